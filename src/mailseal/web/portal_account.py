"""Enrolling a portal account (docs/portal.md, "Recipient accounts"): after a mailed code proved the mailbox, the
recipient of a message whose brand asks for an account (proof = "account") sets a password and enrols a TOTP
authenticator (the QR code drawn as the console draws it); later visits sign in with both, no mailed code
(``portal_link``). An enrolled account is never enrolled again from the portal: an administrator resets it
(``mailseal portal accounts reset``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import PortalError, UsageError
from ..store.portal_records import PortalSession, PortalState
from .context import client_ip
from .portal_context import SESSION_COOKIE, Portal, portal
from .portal_link import CHECK_PER_ADDRESS, limited
from .portal_pages import page
from .portal_reader import reader
from .qr import qr_svg
from .sessions import set_cookie

router = APIRouter(include_in_schema=False)
CODE_WRONG = ("That code is not the one your authenticator app shows now. Check that the phone shows the right time "
              "and try again.")
MISMATCH = "The two passwords are not the same."


def _may_enrol(app: Portal, who: PortalSession) -> str | None:
    """For an address with an active message that asks for an account and no enrolled account yet, the brand of
    the newest such message (the page wears it); else None."""
    account = app.account_store.get(who.address)
    if account is not None and account.enrolled:
        return None
    return next((m.brand for m in app.messages.messages_for(who.address, app.now())
                 if m.proof == "account" and m.state is PortalState.ACTIVE), None)


def _form(request: Request, app: Portal, who: PortalSession, token: str, brand: str, status: int = 200,
          error: str | None = None) -> Response:
    try:
        secret = app.account_store.begin_enrolment(who.address, app.now())
    except PortalError:
        return _enrolled(request, who)
    uri = app.account_store.provisioning_uri(who.address, secret)
    return page(request, "enrol.html", status, domain=brand, reader=who.address, secret=secret, qr=qr_svg(uri),
                token=token, error=error)


def _enrolled(request: Request, who: PortalSession) -> Response:
    return page(request, "notice.html", 409, reader=who.address, heading="Your account is set up already",
                tone="bad", sentence="Sign in with your password and the code from your authenticator app. If you "
                                     "lost them, ask the sender's administrator to reset your account.")


@router.get("/account/enrol")
def enrol_form(request: Request, token: str = "", who: PortalSession = Depends(reader),
               app: Portal = Depends(portal)) -> Response:
    brand = _may_enrol(app, who)
    if brand is None:
        return _enrolled(request, who)
    return _form(request, app, who, token[:128], brand)


@router.post("/account/enrol")
def enrol(request: Request, password: str = Form(max_length=1024), confirm: str = Form(max_length=1024),
          code: str = Form(max_length=32), token: str = Form("", max_length=128),
          who: PortalSession = Depends(reader), app: Portal = Depends(portal)) -> Response:
    brand = _may_enrol(app, who)
    if brand is None:
        return _enrolled(request, who)
    wait = limited(app, [(f"portal-enrol-addr:{who.address}", CHECK_PER_ADDRESS)])
    if wait is not None:
        return page(request, "notice.html", 429, reader=who.address, heading="Too many attempts", tone="bad",
                    sentence=f"Too many attempts for this address. Wait {wait} minutes and try again.")
    if password != confirm:
        return _form(request, app, who, token, brand, 422, MISMATCH)
    try:
        done = app.account_store.enrol(who.address, password, "".join(code.split()), app.now(),
                                       actor=f"portal ({client_ip(request)})")
    except UsageError as exc:
        return _form(request, app, who, token, brand, 422, exc.message)
    if not done:
        return _form(request, app, who, token, brand, 422, CODE_WRONG)
    # Both factors are set: a new session, opened by the account (ASVS 3.2.1: a new id after each proof).
    raw, _ = app.messages.create_session(who.address, app.now(), replacing=request.cookies.get(SESSION_COOKIE),
                                         proof="account")
    response = RedirectResponse("/messages", status_code=303)
    set_cookie(response, SESSION_COOKIE, raw)
    return response


__all__ = ["router"]

"""The console's Portal page: the messages deposited in the recipient portal (filter by sender, recipient, state),
one with who was notified and who read it when, and an admin's revoke, extend and new password: the same store
functions as `mailseal portal` (``store/portal.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import PortalError
from ..store.portal import MAX_EXPIRY_DAYS, new_password
from ..store.portal_accounts import PortalAccounts
from .context import Console, console
from .pages import render
from .problems import problem
from .sessions import Principal, admin, user

router = APIRouter(include_in_schema=False)
STATES = ("active", "expired", "revoked", "purged")


@router.get("/portal")
def portal_list(request: Request, sender: str = Query("", max_length=320), recipient: str = Query("", max_length=320),
                state: str = Query("", pattern="^(|active|expired|revoked|purged)$"),
                limit: int = Query(100, ge=1, le=500), who: Principal = Depends(user),
                app: Console = Depends(console)) -> Response:
    listed = app.portal().list_messages(app.now(), sender=sender or None, recipient=recipient or None,
                                        state=state or None, limit=limit)
    filters = {"sender": sender, "recipient": recipient, "state": state}
    return render(request, "portaladmin/list.html", who, messages=listed, filters=filters, states=STATES)


@router.get("/portal/accounts")
def portal_accounts(request: Request, notice: str = Query("", max_length=200), who: Principal = Depends(user),
                    app: Console = Depends(console)) -> Response:
    """Recipients' portal accounts (proof = account): enrolled or not, last sign-in, failures, lock."""
    listed = PortalAccounts(app.store, None).list()
    return render(request, "portaladmin/accounts.html", who, accounts=listed, notice=notice or None)


@router.post("/portal/accounts/reset")
def portal_account_reset(request: Request, address: str = Form(max_length=320), who: Principal = Depends(admin),
                         app: Console = Depends(console)) -> Response:
    try:
        PortalAccounts(app.store, None).reset(address, actor=who.actor)
    except PortalError as exc:
        return problem(request, 404, exc.message, str(exc.code))
    return RedirectResponse("/portal/accounts?notice=reset", status_code=303)


@router.post("/portal/accounts/remove")
def portal_account_remove(request: Request, address: str = Form(max_length=320), who: Principal = Depends(admin),
                          app: Console = Depends(console)) -> Response:
    try:
        PortalAccounts(app.store, None).remove(address, actor=who.actor)
    except PortalError as exc:
        return problem(request, 404, exc.message, str(exc.code))
    return RedirectResponse("/portal/accounts?notice=removed", status_code=303)


@router.get("/portal/{message_id}")
def portal_show(request: Request, message_id: str, notice: str = Query("", max_length=200),
                who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return _show(request, message_id, who, app, notice=notice or None)


def _show(request: Request, message_id: str, who: Principal, app: Console, *, notice: str | None = None,
          password: str | None = None) -> Response:
    try:
        found = app.portal().show(message_id, app.now())
    except PortalError as exc:
        return problem(request, 404, exc.message, str(exc.code))
    return render(request, "portaladmin/show.html", who, message=found, notice=notice, password=password,
                  max_days=MAX_EXPIRY_DAYS)


@router.post("/portal/{message_id}/password")
def portal_password(request: Request, message_id: str, who: Principal = Depends(admin),
                    app: Console = Depends(console)) -> Response:
    """A new generated password for the message, shown on this answer only (never in a URL, never kept in clear):
    the administrator passes it on to the recipients by phone or text message."""
    password = new_password()
    try:
        app.portal().set_password(message_id, password, app.now(), actor=who.actor)
    except PortalError as exc:
        return problem(request, 404, exc.message, str(exc.code))
    response = _show(request, message_id, who, app, notice="given a new password", password=password)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/portal/{message_id}/revoke")
def portal_revoke(message_id: str, note: str = Form("", max_length=255), who: Principal = Depends(admin),
                  app: Console = Depends(console)) -> Response:
    app.portal().revoke(message_id, note=note, now=app.now(), actor=who.actor)
    return RedirectResponse(f"/portal/{message_id}?notice=revoked", status_code=303)


@router.post("/portal/{message_id}/extend")
def portal_extend(message_id: str, days: int = Form(ge=0, le=MAX_EXPIRY_DAYS), who: Principal = Depends(admin),
                  app: Console = Depends(console)) -> Response:
    app.portal().extend(message_id, days, app.now(), actor=who.actor)
    return RedirectResponse(f"/portal/{message_id}?notice=extended", status_code=303)


__all__ = ["router"]

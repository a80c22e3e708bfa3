"""The portal's first pages (docs/portal.md): the link from the notification, the one-time passcode asked for and
mailed (through the outbox), and the code given back, which opens a portal session for that recipient.

The answers are the same whether the address typed is a recipient of the message or not (the store does the same
work either way and only a recipient's code is queued); a wrong, used, expired or locked code all get one
sentence; rate limits count per client address and per recipient address (``rate_limits`` in the store, shared by
every node); an unknown link token gets the same page as a malformed one."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..policy.portal_mail import passcode_mail
from ..store.portal_accounts import SignIn
from ..store.portal_records import PasscodeResult, PortalLink, PortalState
from .context import client_ip
from .portal_context import SESSION_COOKIE, Portal, portal
from .portal_csrf import binding
from .portal_pages import page
from .portal_proof import proved, remember, satisfied
from .sessions import set_cookie

router = APIRouter(include_in_schema=False)

#: (limit, window) per key kind: link look-ups per client (token guessing), code requests and checks per client
#: and per recipient address.
LINK_PER_CLIENT = (60, timedelta(minutes=10))
ASK_PER_CLIENT = (10, timedelta(minutes=15))
ASK_PER_ADDRESS = (5, timedelta(minutes=15))
CHECK_PER_CLIENT = (20, timedelta(minutes=15))
CHECK_PER_ADDRESS = (10, timedelta(minutes=15))
ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,253}$")
#: One sentence for every code that does not open the message (wrong, used, expired, too many tries, none).
CODE_FAILED = ("That code does not open the message. Check it and try again, or ask for a new code: a code works "
               "once, for 10 minutes, in the browser where you asked for it.")
SENT = ("If {address} is a recipient of this message, a mail with a one-time passcode is on its way to it. "
        "The mail shows the reference {reference}.")
TOO_MANY = "Too many attempts from here or for this address. Wait {minutes} minutes and try again."
NOT_A_LINK = "This link is not valid. Open the link in the notification you received, as it is."


def limited(app: Portal, keys: list[tuple[str, tuple[int, timedelta]]]) -> int | None:
    """Count one hit on each key (all of them, always: the same work whatever the answer); the minutes to wait
    when any is over its limit, else None."""
    waits = []
    for key, (limit, window) in keys:
        result = app.messages.hit(key, limit=limit, window=window, now=app.now())
        if not result.allowed:
            waits.append(result.retry_after)
    if not waits:
        return None
    return max(1, int(max(waits).total_seconds() // 60) + 1)


def _too_many(request: Request, minutes: int, domain: str | None = None) -> Response:
    return page(request, "notice.html", 429, domain=domain, heading="Too many attempts", tone="bad",
                sentence=TOO_MANY.format(minutes=minutes))


def _link(request: Request, token: str, app: Portal) -> PortalLink | Response:
    """The link, or the page to answer instead (not valid, revoked, expired, too many look-ups)."""
    ip = client_ip(request)
    wait = limited(app, [(f"portal-link-ip:{ip}", LINK_PER_CLIENT)])
    if wait is not None:
        return _too_many(request, wait)
    found = app.messages.link(token, app.now(), actor=f"portal ({ip})")
    if found is None:
        return page(request, "notice.html", 404, heading="Link not valid", tone="bad", sentence=NOT_A_LINK)
    return state_page(request, found.state, found.brand, found.revoked_note) or found


def state_page(request: Request, state: PortalState, brand: str | None, note: str | None = None,
               ) -> Response | None:
    """The page for a message that cannot be read any more (revoked, expired, purged); None when it is active."""
    if state is PortalState.REVOKED:
        return page(request, "notice.html", 410, domain=brand, heading="Message revoked", tone="bad",
                    sentence="This message was revoked by the sender: it can no longer be read.", note=note)
    if state in (PortalState.EXPIRED, PortalState.PURGED):
        return page(request, "notice.html", 410, domain=brand, heading="Message expired", tone="bad",
                    sentence="This message has expired: it can no longer be read. Ask the sender to send it again.")
    return None


@router.get("/m/{token}")
def landing(request: Request, token: str, app: Portal = Depends(portal)) -> Response:
    found = _link(request, token, app)
    if isinstance(found, Response):
        return found
    raw = request.cookies.get(SESSION_COOKIE, "")
    reading = app.messages.get_session(raw, app.now()) if raw else None
    if reading is not None and reading.address == found.address and satisfied(
            request, app.key, raw, reading, found.proof, found.message_id):
        return RedirectResponse(f"/read/{found.message_id}", status_code=303)  # signed in already
    if reading is not None and reading.address == found.address and found.proof == "account":
        account = app.account_store.get(found.address)
        if account is None or not account.enrolled:  # the mailbox is proved: on with the enrolment
            return RedirectResponse(f"/account/enrol?token={token}", status_code=303)
    binding(request)  # the browser's binding cookie is set with this page
    return page(request, "landing.html", domain=found.brand, token=token, proof=found.proof, address="",
                error=None)


def _address(value: str) -> str:
    return value.strip().lower()[:320]


def _attempt(request: Request, token: str, address: str, app: Portal,
             kind: str) -> tuple[PortalLink, str, str] | Response:
    """A proof attempt's link, typed address and client address; or the page to answer instead: the link is not
    usable, or this client's or this address's attempts of ``kind`` ("check": passcodes and passwords share one
    budget; "account") are over their limit."""
    found = _link(request, token, app)
    if isinstance(found, Response):
        return found
    typed = _address(address)
    ip = client_ip(request)
    wait = limited(app, [(f"portal-{kind}-ip:{ip}", CHECK_PER_CLIENT), (f"portal-{kind}-addr:{typed}", CHECK_PER_ADDRESS)])
    if wait is not None:
        return _too_many(request, wait, found.brand)
    return found, typed, ip


def padded(app: Portal, started: float, response: Response) -> Response:
    """``response`` no sooner than ``answer_floor`` seconds after ``started``: the answers about an address take
    the same time whether it is a recipient (a code queued) or not, whatever the store's own timing."""
    rest = app.answer_floor - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)  # a worker thread of the pool, not the event loop
    return response


@router.post("/m/{token}/code")
def ask_code(request: Request, token: str, address: str = Form(max_length=320),
             app: Portal = Depends(portal)) -> Response:
    return padded(app, time.monotonic(), _ask_code(request, token, address, app))


def _ask_code(request: Request, token: str, address: str, app: Portal) -> Response:
    found = _link(request, token, app)
    if isinstance(found, Response):
        return found
    typed = _address(address)
    if found.proof not in ("passcode", "account") or not ADDRESS.match(typed):
        return page(request, "landing.html", 422, domain=found.brand, token=token, proof=found.proof,
                    address=address[:320], error="Give the e-mail address the notification was sent to.")
    ip = client_ip(request)
    wait = limited(app, [(f"portal-ask-ip:{ip}", ASK_PER_CLIENT), (f"portal-ask-addr:{typed}", ASK_PER_ADDRESS)])
    if wait is not None:
        return _too_many(request, wait, found.brand)
    now = app.now()
    code = app.messages.issue_passcode(found.message_id, typed, binding(request), now, actor=f"portal ({ip})")
    # The mail is built either way, and queued only for a recipient: the store's answer has the same shape.
    settings = app.current()
    mail = passcode_mail(settings.brand_for(found.brand), settings, recipient=typed,
                         original_sender=found.sender, code=code.code, reference=code.reference,
                         expires=code.expires, hostname=found.brand)
    if code.deliverable:
        app.messages.queue("passcode", "", [typed], mail, now, message_id=found.message_id)
    return page(request, "code.html", domain=found.brand, token=token, address=typed, reference=code.reference,
                sent=SENT.format(address=typed, reference=code.reference), error=None)


PASSWORD_FAILED = "That address and password do not open the message. Check them with the sender."


@router.post("/m/{token}/password")
def check_password(request: Request, token: str, address: str = Form(max_length=320),
                   password: str = Form(max_length=1024), app: Portal = Depends(portal)) -> Response:
    return padded(app, time.monotonic(), _check_password(request, token, address, password, app))


def _check_password(request: Request, token: str, address: str, password: str, app: Portal) -> Response:
    """proof = "password": the password the sender passed on by another channel, for this address; it opens a
    session and proves this one message in it (``portal_proof``)."""
    attempt = _attempt(request, token, address, app, "check")
    if isinstance(attempt, Response):
        return attempt
    found, typed, ip = attempt
    ok = found.proof == "password" and app.messages.check_password(found.message_id, typed, password, app.now(),
                                                                   actor=f"portal ({ip})")
    if not ok:
        return page(request, "landing.html", 401, domain=found.brand, token=token, proof=found.proof,
                    address=typed, error=PASSWORD_FAILED)
    current = request.cookies.get(SESSION_COOKIE)
    earlier = app.messages.get_session(current, app.now()) if current else None
    keep = earlier is not None and earlier.address == typed and current is not None
    raw = current if keep and current is not None else app.messages.create_session(typed, app.now(),
                                                                                    replacing=current)[0]
    response = RedirectResponse(f"/read/{found.message_id}", status_code=303)
    set_cookie(response, SESSION_COOKIE, raw)
    remember(response, app.key, raw, [*(proved(request, app.key, raw) if keep else []), found.message_id])
    return response


@router.post("/m/{token}/open")
def check_code(request: Request, token: str, address: str = Form(max_length=320), code: str = Form(max_length=32),
               app: Portal = Depends(portal)) -> Response:
    return padded(app, time.monotonic(), _check_code(request, token, address, code, app))


def _check_code(request: Request, token: str, address: str, code: str, app: Portal) -> Response:
    attempt = _attempt(request, token, address, app, "check")
    if isinstance(attempt, Response):
        return attempt
    found, typed, ip = attempt
    given = "".join(code.split())
    result = app.messages.check_passcode(found.message_id, typed, binding(request), given, app.now(),
                                         actor=f"portal ({ip})")
    if result is not PasscodeResult.OK:
        return page(request, "code.html", 401, domain=found.brand, token=token, address=typed, reference=None,
                    sent=None, error=CODE_FAILED)
    raw, _ = app.messages.create_session(typed, app.now(), replacing=request.cookies.get(SESSION_COOKIE))
    target = f"/read/{found.message_id}"
    if found.proof == "account":
        # The code proved the mailbox: a first visit (or one after a reset) now enrols; an enrolled account signs
        # in with its password and TOTP code instead, the mailed code is not enough (NIST SP 800-63B).
        account = app.account_store.get(typed)
        target = f"/m/{token}" if account is not None and account.enrolled else f"/account/enrol?token={token}"
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, SESSION_COOKIE, raw)
    return response


ACCOUNT_FAILED = ("That address, password and code do not sign you in. Check them and try again; after several "
                  "failures the account is locked for a while.")


@router.post("/m/{token}/account")
def account_sign_in(request: Request, token: str, address: str = Form(max_length=320),
                    password: str = Form(max_length=1024), code: str = Form(max_length=32),
                    app: Portal = Depends(portal)) -> Response:
    return padded(app, time.monotonic(), _account_sign_in(request, token, address, password, code, app))


def _account_sign_in(request: Request, token: str, address: str, password: str, code: str,
                     app: Portal) -> Response:
    """proof = "account": the account's password and TOTP code (no mailed code); the session then reaches every
    active message of that address. The same answer for a wrong password, a wrong or replayed code, a locked
    account and an address without one."""
    attempt = _attempt(request, token, address, app, "account")
    if isinstance(attempt, Response):
        return attempt
    found, typed, ip = attempt
    result = app.account_store.sign_in(typed, password, "".join(code.split()), app.now(), actor=f"portal ({ip})")
    if result is not SignIn.OK:
        return page(request, "landing.html", 401, domain=found.brand, token=token, proof=found.proof,
                    address=typed, error=ACCOUNT_FAILED)
    raw, _ = app.messages.create_session(typed, app.now(), replacing=request.cookies.get(SESSION_COOKIE),
                                         proof="account")
    response = RedirectResponse(f"/read/{found.message_id}" if typed == found.address else "/messages",
                                status_code=303)
    set_cookie(response, SESSION_COOKIE, raw)
    return response


__all__ = ["ACCOUNT_FAILED", "CODE_FAILED", "NOT_A_LINK", "PASSWORD_FAILED", "SENT", "TOO_MANY", "limited", "padded", "router", "state_page"]

"""Signing in and out of the console (OWASP ASVS 6, 7): the password, then the TOTP code (enrolled at the first
login, with a QR code) or a security key (web/securitykeys.py), a new session id at each step, logout that ends the session server-side, and giving the
password again before a sensitive change."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..store import audit
from ..store.ratelimit import RateLimits
from ..store.securitykeys import SecurityKeys
from ..store.totp import provisioning_uri
from .context import Console, client_ip, console
from .qr import qr_svg
from .security import nonce
from .sessions import COOKIE, LOGIN_COOKIE, NotSignedIn, Principal, clear_cookie, lookup, set_cookie, user

router = APIRouter(include_in_schema=False)
#: The one sentence for every failed login: it says nothing of which part was wrong or that an account is locked.
FAILED = "The name, password or code is not right, or the account is locked for a while."
#: What an address that failed too often is told (it names no account: the limit is the address's).
THROTTLED = "Too many failed sign-ins from your address: try again in {minutes} minute(s)."
ISSUER = "mailseal console"


def _page(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    return console(request).templates.TemplateResponse(request, name, context, status_code=status)


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def audit_login(app: Console, action: str, name: str, client: str, **detail: object) -> None:
    with app.store.session() as session:
        audit.record(session, action, name, {"client": client, **detail}, f"web:{name} ({client})")


def throttled(app: Console, client: str) -> int | None:
    """Seconds until this client address may try again, when it failed ``login_failures_per_address`` times in
    the current window (counted in the store: every node together); None when it may try now."""
    limit = app.settings.login_failures_per_address
    if limit == 0:
        return None
    failures, retry = RateLimits(app.store).count(f"login-ip:{client}", window=app.settings.login_failure_window,
                                                  now=app.now())
    return max(1, int(retry.total_seconds())) if failures >= limit else None


def failed(app: Console, client: str) -> None:
    """Count one failed step (password, code or security key) against the client address."""
    if app.settings.login_failures_per_address:
        RateLimits(app.store).hit(f"login-ip:{client}", limit=app.settings.login_failures_per_address,
                                  window=app.settings.login_failure_window, now=app.now())


def refused(request: Request, app: Console, template: str, context: dict[str, object], name: str, client: str,
            wait: int) -> Response:
    """The throttled answer: 429 with Retry-After, the same page, audited once per refused attempt."""
    audit_login(app, "console.login-throttled", name, client)
    answer = _page(request, template, {**context, "error": THROTTLED.format(minutes=-(-wait // 60))}, 429)
    answer.headers["Retry-After"] = str(wait)
    return answer


@router.get("/login")
def login_form(request: Request) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = _page(request, "login.html", {"csrf": token, "error": None})
    set_cookie(response, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
def login(request: Request, name: str = Form(max_length=64), password: str = Form(max_length=1024),
          app: Console = Depends(console)) -> Response:
    client = client_ip(request)
    wait = throttled(app, client)  # before the password is hashed: a refused address costs no argon2id
    if wait is not None:
        return refused(request, app, "login.html", {"csrf": request.cookies.get(LOGIN_COOKIE, "")}, name[:64],
                       client, wait)
    account = app.admins.verify_password(name, password, app.now())
    if account is None:
        failed(app, client)
        audit_login(app, "console.login-failed", name[:64], client)
        return _page(request, "login.html", {"csrf": request.cookies.get(LOGIN_COOKIE, ""), "error": FAILED}, 401)
    if not account.totp_enrolled:
        app.admins.begin_totp(account.name)
    raw, _ = app.sessions.start(account.name, "password", client_ip(request), app.now(),
                                replacing=request.cookies.get(COOKIE))
    response = _redirect("/login/totp")
    set_cookie(response, COOKIE, raw)
    clear_cookie(response, LOGIN_COOKIE)
    return response


def half_signed_in(request: Request, app: Console = Depends(console)) -> Principal:
    """A session that has passed the password and waits for the second factor."""
    found = lookup(request, app)
    if found is None or found.session is None or found.session.stage != "password":
        raise NotSignedIn()
    return found


def _totp_context(request: Request, app: Console, who: Principal, error: str | None) -> dict[str, object]:
    assert who.session is not None
    # An account with a security key may give it instead of the code (web/securitykeys.py; the script needs the
    # response's CSP nonce).
    keys = SecurityKeys(app.store).count(who.name)
    context: dict[str, object] = {"csrf": who.session.csrf, "error": error, "name": who.name, "enrol": False,
                                  "security_keys": keys, "script_nonce": nonce(request)}
    account = app.admins.get(who.name)
    if account is not None and not account.totp_enrolled:
        secret = app.admins.totp_secret(who.name) or ""
        uri = provisioning_uri(secret, who.name, ISSUER)
        context.update(enrol=True, secret=secret, qr=qr_svg(uri))
    return context


@router.get("/login/totp")
def totp_form(request: Request, who: Principal = Depends(half_signed_in),
              app: Console = Depends(console)) -> Response:
    return _page(request, "totp.html", _totp_context(request, app, who, None))


@router.post("/login/totp")
def totp(request: Request, code: str = Form(max_length=16), who: Principal = Depends(half_signed_in),
         app: Console = Depends(console)) -> Response:
    wait = throttled(app, who.client)
    if wait is not None:
        return refused(request, app, "totp.html", _totp_context(request, app, who, None), who.name, who.client, wait)
    account = app.admins.get(who.name)
    locked = account is None or (account.locked_until is not None and account.locked_until > app.now())
    if locked or not app.admins.check_totp(who.name, code.strip().replace(" ", ""), app.now()):
        failed(app, who.client)
        app.admins.record_failure(who.name, app.now())
        audit_login(app, "console.login-failed", who.name, who.client)
        return _page(request, "totp.html", _totp_context(request, app, who, FAILED), 401)
    response = _redirect("/")
    set_cookie(response, COOKIE, signed_in(app, who, "totp"))
    return response


def signed_in(app: Console, who: Principal, factor: str) -> str:
    """Both factors given: the failures counter starts again and a new session id (ASVS 7.2.4) replaces the
    half-signed-in one; the raw id for the cookie."""
    app.admins.record_login(who.name, app.now())
    raw, _ = app.sessions.start(who.name, "ok", who.client, app.now(), replacing=who.raw_session)
    audit_login(app, "console.login", who.name, who.client, factor=factor)
    return raw


@router.post("/logout")
def logout(request: Request, app: Console = Depends(console)) -> Response:
    who = lookup(request, app)
    if who is not None and who.raw_session is not None:
        app.sessions.end(who.raw_session)
        audit_login(app, "console.logout", who.name, who.client)
    response = _redirect("/login")
    clear_cookie(response, COOKIE)
    return response


def _local(target: str) -> str:
    """Only a path of this console (never another host: an open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/reauth")
def reauth_form(request: Request, next: str = "/", who: Principal = Depends(user)) -> Response:
    assert who.session is not None
    return _page(request, "reauth.html", {"csrf": who.session.csrf, "next": _local(next), "error": None,
                                          "who": who})


@router.post("/reauth")
def reauth(request: Request, password: str = Form(max_length=1024), next: str = Form("/", max_length=512),
           who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    if who.session is None or who.raw_session is None or app.admins.verify_password(who.name, password,
                                                                                   app.now()) is None:
        csrf = who.session.csrf if who.session else ""
        return _page(request, "reauth.html", {"csrf": csrf, "next": _local(next), "error": FAILED, "who": who}, 401)
    app.sessions.reauthenticated(who.raw_session, app.now())
    return _redirect(_local(next))


__all__ = ["FAILED", "THROTTLED", "audit_login", "failed", "half_signed_in", "refused", "router", "signed_in",
           "throttled"]

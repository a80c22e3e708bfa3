"""Who is asking: a console session (the ``__Host-mailseal`` cookie, looked up server-side) or an API bearer token;
the dependencies that require a signed-in user, the admin role, or a recent re-authentication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from ..store.apitokens import ApiToken
from ..store.websessions import WebSession
from .context import REAUTH_SECONDS, Console, client_ip, console

COOKIE = "__Host-mailseal"
API_PREFIX = "/api/v1"
#: The largest offset and row id a request may name: beyond, a database integer would overflow (a 422, not a 500).
MAX_OFFSET = MAX_ID = (1 << 31) - 1
#: The login form's CSRF token travels in its own short-lived cookie (double submit): there is no session yet.
LOGIN_COOKIE = "__Host-mailseal-login"


class NotSignedIn(Exception):
    """No live session (or token): a page redirects to the login, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but not allowed (an auditor, a read-only token, a missing CSRF token): 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReauthNeeded(Exception):
    """A sensitive change and no password given in the last REAUTH_SECONDS: a page asks for it again."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    client: str
    session: WebSession | None = None
    raw_session: str | None = None
    token: ApiToken | None = None

    @property
    def may_change(self) -> bool:
        return self.role == "admin" and (self.token is None or self.token.scope == "admin")

    @property
    def actor(self) -> str:
        """Who and from where, as the audit log records it."""
        via = f" token {self.token.id}" if self.token is not None else ""
        return f"web:{self.name}{via} ({self.client})"


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    # __Host-: Secure, Path=/ and no Domain, so that no other host or path can set or read it (RFC 6265bis §4.1.3.2).
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def lookup(request: Request, app: Console) -> Principal | None:
    """The principal of this request (cached on it), or None. A request with an Authorization header is judged by
    it alone, never by a cookie it also carries."""
    if hasattr(request.state, "principal"):
        found = request.state.principal
        return found if isinstance(found, Principal) else None
    principal: Principal | None = None
    # Bearer tokens are for the REST API only: a page never takes one.
    bearer = _bearer(request) if request.url.path.startswith(API_PREFIX + "/") else None
    if bearer is not None:
        token = app.tokens.authenticate(bearer, app.now()) if bearer else None
        if token is not None:
            account = app.admins.get(token.account)
            if account is not None:
                principal = Principal(account.name, account.role, client_ip(request), token=token)
    else:
        raw = request.cookies.get(COOKIE)
        session = app.sessions.get(raw, app.now()) if raw else None
        if session is not None:
            account = app.admins.get(session.account)
            if account is not None:
                principal = Principal(account.name, account.role, client_ip(request), session, raw)
    request.state.principal = principal
    return principal


def user(request: Request, app: Console = Depends(console)) -> Principal:
    """A signed-in user (both factors given) or a token."""
    found = lookup(request, app)
    if found is None or (found.session is not None and found.session.stage != "ok"):
        raise NotSignedIn()
    return found


def admin(who: Principal = Depends(user)) -> Principal:
    """A user who may change things: the admin role (and an admin-scoped token)."""
    if not who.may_change:
        raise Forbidden("this needs the admin role" if who.role != "admin" else "this token may only read")
    return who


def _check_reauth(who: Principal, app: Console) -> None:
    if who.session is not None:
        when = who.session.reauth
        if when is None or app.now() - when > timedelta(seconds=REAUTH_SECONDS):
            raise ReauthNeeded()


def recently_authenticated(who: Principal = Depends(admin), app: Console = Depends(console)) -> Principal:
    """An admin who gave the password again in the last REAUTH_SECONDS (a token stands for itself)."""
    _check_reauth(who, app)
    return who


def recently_signed_in(who: Principal = Depends(user), app: Console = Depends(console)) -> Principal:
    """Anyone signed in to a console session (any role: their own second factors) who gave the password again in
    the last REAUTH_SECONDS. Not a token: a script has no security key to register."""
    if who.session is None:
        raise Forbidden("security keys are managed in a console session, not with an API token")
    _check_reauth(who, app)
    return who


__all__ = ["API_PREFIX", "COOKIE", "LOGIN_COOKIE", "Forbidden", "NotSignedIn", "Principal", "ReauthNeeded", "admin",
           "clear_cookie", "lookup", "recently_authenticated", "recently_signed_in", "set_cookie", "user"]

"""CSRF protection (OWASP ASVS 3.5): every request that may change state carries the session's token, in the form
field ``csrf_token`` or the ``X-CSRF-Token`` header, compared in constant time. Applied to the whole application,
so that a new route is covered without anyone remembering to. A bearer token is not sent by browsers on their
own, so a request authenticated by one needs no CSRF token."""

from __future__ import annotations

import hmac

from fastapi import Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .context import Console, console
from .sessions import API_PREFIX, LOGIN_COOKIE, Forbidden, lookup

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
#: Routes used before there is a session: their token is the login cookie's (double submit).
LOGIN_PATHS = frozenset({"/login"})


async def given_token(request: Request) -> str:
    """The CSRF token the request carries (header or form field), or "" (the portal reads it too)."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def csrf_guard(request: Request, app: Console = Depends(console)) -> None:
    if request.method in SAFE_METHODS:
        return
    if request.url.path.startswith(API_PREFIX + "/") and request.headers.get("authorization"):
        return  # judged by the bearer token alone (sessions.lookup never falls back to the cookie)
    given = await given_token(request)
    if request.url.path in LOGIN_PATHS:
        expected = request.cookies.get(LOGIN_COOKIE, "")
    else:
        principal = await run_in_threadpool(lookup, request, app)
        expected = principal.session.csrf if principal is not None and principal.session is not None else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the request has no valid CSRF token: reload the page and try again")


__all__ = ["FIELD", "HEADER", "SAFE_METHODS", "csrf_guard", "given_token"]

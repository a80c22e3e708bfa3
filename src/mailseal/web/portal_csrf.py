"""CSRF protection of the portal (OWASP ASVS 3.5): every request that may change state carries the token derived
from the browser-binding cookie (``__Host-``, HttpOnly, SameSite=Strict), compared in constant time. The cookie
itself never appears in a page: the token is an HMAC of it, so a page's token does not reveal the binding."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from .csrf import SAFE_METHODS, given_token
from .portal_context import BINDING_COOKIE
from .sessions import Forbidden, set_cookie


def binding(request: Request) -> str:
    """This browser's binding: the cookie's value, or a fresh one (set on the response by ``keep_binding``)."""
    found = getattr(request.state, "binding", None)
    if isinstance(found, str):
        return found
    value = request.cookies.get(BINDING_COOKIE, "")
    if len(value) < 32:
        value = secrets.token_urlsafe(32)
        request.state.new_binding = True
    request.state.binding = value
    return value


def keep_binding(request: Request, response: Response) -> Response:
    """Set the binding cookie when this request made a new one."""
    if getattr(request.state, "new_binding", False):
        set_cookie(response, BINDING_COOKIE, binding(request))
    return response


def csrf_token(request: Request) -> str:
    return hmac.new(binding(request).encode(), b"mailseal portal csrf", hashlib.sha256).hexdigest()


async def portal_csrf_guard(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    given = await given_token(request)
    cookie = request.cookies.get(BINDING_COOKIE, "")
    expected = csrf_token(request) if len(cookie) >= 32 else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the request has no valid CSRF token: reload the page and try again")


__all__ = ["binding", "csrf_token", "keep_binding", "portal_csrf_guard"]

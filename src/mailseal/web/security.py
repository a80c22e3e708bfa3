"""Security headers on every response (OWASP ASVS 3.4): a Content-Security-Policy with a fresh nonce per request,
no sniffing, no referrer, no framing, no caching of console pages, and HSTS when the console serves TLS."""

from __future__ import annotations

import secrets

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

CSP = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'; connect-src 'self'")
HSTS = "max-age=31536000; includeSubDomains"


def nonce(request: Request) -> str:
    """This request's CSP nonce (for a ``<script nonce=...>`` in a template)."""
    value = getattr(request.state, "nonce", "")
    return str(value)


class SecurityHeaders(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, *, tls: bool, csp: str = CSP) -> None:
        super().__init__(app)
        self.tls = tls
        self.csp = csp  # the portal's is stricter (web/portal_app.py)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.nonce = secrets.token_urlsafe(16)
        try:
            response = await call_next(request)
        except Exception as exc:  # deliberately broad: whatever failed, the answer is a 500 page, never a traceback
            from .problems import crashed

            response = crashed(request, exc)
        headers = response.headers
        headers["Content-Security-Policy"] = self.csp.format(nonce=request.state.nonce)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        # Static files (the style sheet) may be cached; everything else may show an account's data.
        headers["Cache-Control"] = "max-age=3600" if request.url.path.startswith("/static/") else "no-store"
        if self.tls:
            headers["Strict-Transport-Security"] = HSTS
        return response


__all__ = ["CSP", "HSTS", "SecurityHeaders", "nonce"]

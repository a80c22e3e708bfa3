"""Errors as the console answers them: RFC 9457 problem details (``application/problem+json``, with the mailseal
error code) under the API, a plain page elsewhere; never a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import ErrorCode, MailsealError, TemporaryError
from .sessions import API_PREFIX, Forbidden, NotSignedIn, ReauthNeeded

log = logging.getLogger("mailseal.web")
MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is mailseal's error code (docs/cli.md) when there is one."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str | None = None


def _is_api(request: Request) -> bool:
    return request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/")


def problem(request: Request, status: int, detail: str | None = None, code: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    title = HTTPStatus(status).phrase
    if _is_api(request):
        body = Problem(title=title, status=status, detail=detail, code=code).model_dump(exclude_none=True)
        return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)
    state = request.app.state
    # The console's app keeps its context as state.console, the portal's as state.portal (its own error page).
    templates = state.console.templates if hasattr(state, "console") else state.portal.templates
    name = getattr(state, "error_page", "error.html")
    page: Response = templates.TemplateResponse(request, name, {"status": status, "title": title, "detail": detail},
                                                status_code=status, headers=headers)
    return page


def _status_of(exc: MailsealError) -> int:
    if isinstance(exc, TemporaryError):
        return 503
    if exc.code in (ErrorCode.USAGE, ErrorCode.PORTAL) and exc.message.startswith("no "):
        return 404  # "no console account 'x'": the store's words for a missing thing
    if exc.code == ErrorCode.USAGE and "already exists" in exc.message:
        return 409
    return 400


def crashed(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return problem(request, 500, "an unexpected error: the console's log has the details")


def install(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase \
            else None
        return problem(request, exc.status_code, detail, headers=dict(exc.headers or {}))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
        return problem(request, 422, where[:500], str(ErrorCode.USAGE))

    async def mailseal_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MailsealError)
        return problem(request, _status_of(exc), exc.message, str(exc.code))

    async def not_signed_in(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return problem(request, 401, "sign in, or give an API token (Authorization: Bearer)",
                           headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/login", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        return problem(request, 403, exc.reason)

    async def reauth(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return problem(request, 403, "give your password again first (POST /reauth), then repeat the request")
        # Back to the page after the password: the page itself, or for a form's POST the page it was on.
        page = request.url.path if request.method == "GET" else "/" + request.url.path.strip("/").split("/")[0]
        return RedirectResponse(f"/reauth?next={quote(page)}", status_code=303)

    handlers: dict[Any, Any] = {HTTPException: http_error, RequestValidationError: invalid,
                                MailsealError: mailseal_error, NotSignedIn: not_signed_in, Forbidden: forbidden,
                                ReauthNeeded: reauth}
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)


__all__ = ["MEDIA_TYPE", "Problem", "crashed", "install", "problem"]

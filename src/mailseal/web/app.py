"""The console's application: ``create_app(store, settings)`` gives a FastAPI app with the pages, the REST API
under /api/v1 (its OpenAPI document at /api/v1/openapi.json), CSRF on every state-changing request, security
headers on every response and errors that never show a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..store.admins import Admins
from ..store.apitokens import ApiTokens
from ..store.database import Store
from ..store.tables import utcnow
from ..store.websessions import WebSessions
from . import (
    api,
    api_ca,
    api_certs,
    api_domains,
    api_held,
    api_identities,
    api_policy,
    api_portal,
    api_publishing,
    api_trust,
    api_users,
    api_verify,
    auth,
    pages,
    pages_ca,
    pages_certs,
    pages_domains,
    pages_held,
    pages_identities,
    pages_policy,
    pages_portal,
    pages_publishing,
    pages_trust,
    pages_users,
    pages_verify,
    problems,
    securitykeys,
)
from .context import STATIC, Console
from .csrf import csrf_guard
from .held_port import HeldMail
from .security import SecurityHeaders
from .sessions import API_PREFIX
from .settings import WebSettings, console_key

ERROR_STATUSES = {"400": "Bad request", "401": "Not signed in (no session, no valid token)",
                  "403": "Not allowed (role, token scope, CSRF token or re-authentication)", "404": "Not found",
                  "409": "Already exists", "422": "Invalid parameters", "503": "The store is not answering"}


def create_app(store: Store, settings: WebSettings | None = None, *, key: bytes | None = None,
               hasher: PasswordHasher | None = None, clock: Callable[[], datetime] = utcnow,
               ca_directory: Path | None = None, routers: Iterable[APIRouter] = (),
               held: HeldMail | None = None, portal_key: bytes | None = None) -> FastAPI:
    """The console over ``store``. ``key`` seals the TOTP secrets (default: ``console_key(settings)``);
    ``hasher`` sets the argon2id cost; ``clock`` gives the time (tests move it); ``routers`` adds pages;
    ``held`` is the gateway's held messages (``web/held_port.py``), when the serving process has them;
    ``portal_key`` is the recipient portal's key (its Portal page's list, revoke and extend need none)."""
    chosen = settings or WebSettings()
    admins = Admins(store, hasher=hasher, totp_key=key if key is not None else console_key(chosen))
    context = Console(store, chosen, admins, WebSessions(store, idle=chosen.idle_timeout,
                                                         absolute=chosen.absolute_timeout),
                      ApiTokens(store), clock=clock, ca_directory=ca_directory, held=held, portal_key=portal_key)
    app = FastAPI(title="mailseal console API", version=__version__, openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=None, redoc_url=None, dependencies=[Depends(csrf_guard)])
    app.state.console = context
    app.add_middleware(SecurityHeaders, tls=chosen.tls)
    problems.install(app)
    for router in (
            auth.router,
            securitykeys.router,
            pages.router,
            api.router,
            pages_held.router,
            api_held.router,
            pages_portal.router,
            api_portal.router,
            pages_verify.router,
            api_verify.router,
            pages_policy.router,
            api_policy.router,
            pages_certs.router,
            api_certs.router,
            pages_trust.router,
            api_trust.router,
            pages_publishing.router,
            api_publishing.router,
            pages_identities.router,
            api_identities.router,
            pages_ca.router,
            api_ca.router,
            pages_users.router,
            api_users.router,
            pages_domains.router,
            api_domains.router,
            *routers,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _problem_response(description: str) -> dict[str, Any]:
    schema = problems.Problem.model_json_schema()
    return {"description": description, "content": {problems.MEDIA_TYPE: {"schema": schema}}}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error described as what it is: RFC 9457 problem details."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes,
                               description="The mailseal console's REST API (docs/web.md). Authenticate with "
                                           "`Authorization: Bearer <token>` (`mailseal admins token`).")
        document.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer"}
        document["security"] = [{"bearer": []}]
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_STATUSES.items():
                    responses[status] = _problem_response(description)
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


__all__ = ["create_app"]

"""The recipient portal's application: ``create_portal_app(store, settings)`` gives a FastAPI app, served on its
own listener (``[portal] listen``), separate from the console: the link pages, the passcode, the message and the
reply. Same rules as the console (CSRF on every state-changing request, security headers, no traceback), with a
stricter Content-Security-Policy: no script at all, and nothing loaded from anywhere but the portal itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from ..policy.portal_settings import PortalSettings
from ..store.database import Store
from ..store.portal import PortalStore
from ..store.portal_key import portal_key
from ..store.tables import utcnow
from . import problems
from .context import STATIC
from .portal_context import Portal
from .portal_csrf import keep_binding, portal_csrf_guard
from .security import SecurityHeaders

#: The portal's pages run no script; images, styles and form posts come from and go to the portal only, so that a
#: message's HTML cannot reach anywhere (EFAIL): even what the sanitiser missed could not load.
PORTAL_CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; font-src 'none'; "
              "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'none'; "
              "manifest-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def create_portal_app(store: Store, settings: PortalSettings | None = None, *, key: bytes | None = None,
                      clock: Callable[[], datetime] = utcnow, tls: bool = False,
                      routers: Iterable[APIRouter] = (),
                      source: Callable[[], PortalSettings] | None = None) -> FastAPI:
    """The portal over ``store``; ``key`` is the portal key (default: ``portal.key`` in the home, made at first
    use); ``clock`` gives the time (tests move it); ``routers`` adds pages; ``source`` gives the settings in force
    after a reload (brands, texts: the listener and the key stay those of ``settings``)."""
    from . import portal_account, portal_link, portal_pages, portal_reader

    chosen = settings or PortalSettings()
    kek = key if key is not None else portal_key(chosen.key_file)
    context = Portal(store, PortalStore(store, kek), kek, chosen, clock=clock, tls=tls or chosen.tls, source=source)
    app = FastAPI(title="mailseal portal", openapi_url=None, docs_url=None, redoc_url=None,
                  dependencies=[Depends(portal_csrf_guard)])
    app.state.portal = context
    app.state.error_page = "portal/error.html"

    @app.middleware("http")
    async def binding_cookie(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        return keep_binding(request, response)

    app.add_middleware(SecurityHeaders, tls=context.tls, csp=PORTAL_CSP)
    problems.install(app)
    app.add_exception_handler(portal_reader.NoReader, portal_reader.no_reader)
    for router in (portal_pages.router, portal_link.router, portal_account.router, portal_reader.router, *routers):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


__all__ = ["PORTAL_CSP", "create_portal_app"]

"""What every request of the console reaches: the store, the settings, the accounts, sessions and tokens, the
templates and the clock (a parameter, so that tests can move time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

if TYPE_CHECKING:
    from ..store.portal import PortalStore

from ..store.admins import Admins
from ..store.apitokens import ApiTokens
from ..store.database import Store
from ..store.tables import utcnow
from ..store.websessions import WebSessions
from .held_port import HeldMail
from .settings import WebSettings

if TYPE_CHECKING:
    from .service_certs import RevocationFetch

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
#: How long a re-authentication stays good for the sensitive changes that ask for one (ASVS 7.5.1).
REAUTH_SECONDS = 300


@dataclass
class Console:
    store: Store
    settings: WebSettings
    admins: Admins
    sessions: WebSessions
    tokens: ApiTokens
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES)))
    clock: Callable[[], datetime] = utcnow
    ca_directory: Path | None = None
    held: HeldMail | None = None  # the gateway's held messages, when the process that serves the console has them
    portal_key: bytes | None = None  # the portal key: the Portal page's administration needs none

    def now(self) -> datetime:
        return self.clock()

    def portal(self) -> PortalStore:
        """The recipient portal's messages for the Portal page (the same store functions as `mailseal portal`):
        listing, revoking and extending need no portal key, so the console opens none unless given one."""
        from ..store.portal import PortalStore

        return PortalStore(self.store, self.portal_key)


def console(request: Request) -> Console:
    found = request.app.state.console
    assert isinstance(found, Console)
    return found


def revocation_fetch(app: Console) -> RevocationFetch:
    """How "Check revocation now" may fetch: public addresses, plus ``[web].fetch_networks``; the shared cache."""
    from ..config import data_dir
    from ..pki.fetching import FetchPolicy
    from .service_certs import RevocationFetch

    return RevocationFetch(FetchPolicy(allowed_networks=app.settings.fetch_networks),
                           data_dir() / "cache" / "revocation")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


__all__ = ["REAUTH_SECONDS", "STATIC", "TEMPLATES", "Console", "client_ip", "console", "revocation_fetch"]

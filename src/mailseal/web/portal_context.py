"""What every request of the recipient portal reaches: the store and its portal tables (``PortalStore``), the
portal's settings, the templates, the clock (a parameter, so that tests can move time) and the trust list that
judges an original's signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from ..pki.truststore import TrustStore
from ..policy.portal_settings import PortalSettings
from ..store.database import Store
from ..store.portal import PortalStore
from ..store.portal_accounts import PortalAccounts
from ..store.tables import utcnow
from .context import TEMPLATES

#: The portal's cookies: the session, and the browser binding (a random value set at the first page, which a
#: passcode is bound to and which the forms' CSRF token is derived from). Both __Host-: Secure, Path=/, no Domain.
SESSION_COOKIE = "__Host-mailseal-portal"
BINDING_COOKIE = "__Host-mailseal-portal-b"


@dataclass
class Portal:
    store: Store
    messages: PortalStore
    key: bytes = b""  # the portal key: the password-proof cookie's HMAC key is derived from it (portal_proof.py)
    settings: PortalSettings = field(default_factory=PortalSettings)
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES)))
    clock: Callable[[], datetime] = utcnow
    tls: bool = False
    #: Where the settings come from after a reload (the running gateway's, under `mailseal serve`); else ``settings``.
    source: Callable[[], PortalSettings] | None = None
    #: The least time an answer about an address (a code asked for, a code given) takes, in seconds.
    answer_floor: float = 0.25
    #: The recipients' accounts (proof = "account"); made from ``store`` and ``key`` when not given.
    accounts: PortalAccounts | None = None

    def __post_init__(self) -> None:
        if self.accounts is None:
            self.accounts = PortalAccounts(self.store, self.key or None, hasher=self.messages.hasher)

    @property
    def account_store(self) -> PortalAccounts:
        assert self.accounts is not None  # set in __post_init__
        return self.accounts

    def now(self) -> datetime:
        return self.clock()

    def current(self) -> PortalSettings:
        """The settings in force: brands, texts and the sender follow a reload (SIGHUP) of `mailseal serve`."""
        return self.source() if self.source is not None else self.settings

    def trust(self) -> TrustStore:
        """The trust list in the store (the same one the console's verify page uses)."""
        from .service_verify import trust

        return trust(self.store)


def portal(request: Request) -> Portal:
    found = request.app.state.portal
    assert isinstance(found, Portal)
    return found


__all__ = ["BINDING_COOKIE", "SESSION_COOKIE", "Portal", "portal"]

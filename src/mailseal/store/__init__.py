"""The store (layer 4): key store, certificate directory, harvesting, capability choice and audit log.

SQLite in the data directory by default, PostgreSQL by ``$MAILSEAL_DB_URL``; schema by Alembic migrations.
The public names are loaded on first use (PEP 562): a command that lists identities should not pay for the
certificate lookup's path validation, nor one that finds a certificate for the key store's cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_EXPORTS = {
    "CertificateLookup": ".lookup",
    "DB_URL_ENV": ".database",
    "Directory": ".directory",
    "DirectoryEntry": ".directory",
    "Event": ".audit",
    "HarvestResult": ".harvesting",
    "IdentityRecord": ".keystore",
    "ImportOutcome": ".directory",
    "KeyStore": ".keystore",
    "LOCAL": ".lookup",
    "LookupResult": ".lookup",
    "Store": ".database",
    "choose_cipher": ".capabilities",
    "choose_key_transport": ".capabilities",
    "choose_key_transport_for_all": ".capabilities",
    "database_url": ".database",
    "events": ".audit",
    "fingerprint": ".directory",
    "harvest": ".harvesting",
    "resolve_passphrase": ".keystore",
}
__getattr__ = lazy_getattr(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from .audit import Event, events
    from .capabilities import choose_cipher, choose_key_transport, choose_key_transport_for_all
    from .database import DB_URL_ENV, Store, database_url
    from .directory import Directory, DirectoryEntry, ImportOutcome, fingerprint
    from .harvesting import HarvestResult, harvest
    from .keystore import IdentityRecord, KeyStore, resolve_passphrase
    from .lookup import LOCAL, CertificateLookup, LookupResult

__all__ = [
    "DB_URL_ENV",
    "LOCAL",
    "CertificateLookup",
    "Directory",
    "DirectoryEntry",
    "Event",
    "HarvestResult",
    "IdentityRecord",
    "ImportOutcome",
    "KeyStore",
    "LookupResult",
    "Store",
    "choose_cipher",
    "choose_key_transport",
    "choose_key_transport_for_all",
    "database_url",
    "events",
    "fingerprint",
    "harvest",
    "resolve_passphrase",
]

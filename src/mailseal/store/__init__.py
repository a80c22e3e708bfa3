"""The store (layer 4): key store, certificate directory, harvesting, capability choice and audit log.

SQLite in the data directory by default, PostgreSQL by ``$MAILSEAL_DB_URL``; schema by Alembic migrations.
"""

from __future__ import annotations

from .audit import Event, events
from .capabilities import choose_cipher, choose_key_transport, choose_key_transport_for_all
from .database import DB_URL_ENV, Store, database_url
from .directory import Directory, DirectoryEntry, ImportOutcome, fingerprint
from .harvest import HarvestResult, harvest
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

"""The console's identities (the keys it holds: key + certificate + chain in ``store.keystore.KeyStore``): list the
metadata, import a PKCS#12 upload (its key sealed under the store's key-encryption key, as `mailseal keys import`
does), remove. Private key material never leaves this module's callee: what it returns is metadata only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..cms.identity import Identity
from ..cms.token import TokenURI
from ..errors import MailsealError, PrivateKeyError, UsageError
from ..store.database import Store
from ..store.keystore import USAGES, IdentityRecord, KeyStore
from ..store.passphrase import CREDENTIAL_NAME, KEYFILE_ENV, PASSPHRASE_ENV, passphrase_source, resolve_passphrase
from .uploads import MAX_UPLOAD

#: How to give the console the store passphrase: never in a form, always from the serving process's environment.
PASSPHRASE_HELP = (f"set {PASSPHRASE_ENV} or {KEYFILE_ENV} in the environment of `mailseal web` (as for "
                   f"`mailseal serve`), or pass the systemd credential {CREDENTIAL_NAME}, then restart the console")
#: The fields of an identity as the console shows and sends it (docs/web.md): metadata, never key material.
FIELDS = ("id", "address", "usage", "fingerprint_sha256", "subject", "not_before", "not_after", "created",
          "chain_length", "key_location", "key_location_text", "validity")


def location_text(location: str) -> str:
    """Where the key is, in words: sealed in the store, or on a token named by its URI without any PIN."""
    if location == "store":
        return "sealed in the store"
    try:
        shown = str(TokenURI.parse(location))
    except MailsealError:  # a URI the token code would refuse (one carrying a PIN among them): not shown
        return "PKCS#11 token (its URI cannot be shown)"
    return f"PKCS#11 token: {shown}"


@dataclass(frozen=True)
class IdentityRow:
    record: IdentityRecord
    validity: str

    @property
    def location(self) -> str:
        return location_text(self.record.key_location)

    def to_dict(self) -> dict[str, Any]:
        data = self.record.to_dict()
        if data["key_location"] != "store":
            data["key_location"] = self.location.removeprefix("PKCS#11 token: ")
        return {**data, "key_location_text": self.location, "validity": self.validity}


@dataclass(frozen=True)
class IdentityPage:
    items: list[IdentityRow]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"items": [r.to_dict() for r in self.items], "total": self.total, "limit": self.limit,
                "offset": self.offset, "next_offset": self.next_offset}


def _row(record: IdentityRecord, at: datetime) -> IdentityRow:
    validity = ("expired" if at > record.not_after else "not-yet-valid" if at < record.not_before else "valid")
    return IdentityRow(record, validity)


def listing(store: Store, at: datetime, *, limit: int = 50, offset: int = 0) -> IdentityPage:
    """The identities by address, newest first within one (as `mailseal keys list`); reading needs no passphrase."""
    records = KeyStore(store).list()
    return IdentityPage([_row(r, at) for r in records[offset:offset + limit]], len(records), limit, offset)


def passphrase_configured() -> str | None:
    """Where the console's process would take the store passphrase from (for the page), or None."""
    return passphrase_source()


def import_pkcs12(store: Store, data: bytes, at: datetime, *, password: str | None, usage: str | None,
                  actor: str) -> list[IdentityRow]:
    """File the PKCS#12 upload's identity (one row per address of its certificate) with its key sealed under the
    store's key-encryption key; audited as ``keys.import``. The store passphrase comes from the environment only."""
    if usage is not None and usage not in USAGES:
        raise UsageError(f"usage must be one of {', '.join(USAGES)}")
    if passphrase_source() is None:
        raise UsageError(f"the console has no key store passphrase, so it cannot seal a key: {PASSPHRASE_HELP}")
    if len(data) > MAX_UPLOAD:
        raise PrivateKeyError(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    identity = Identity.from_pkcs12(data, password or None)
    keystore = KeyStore(store, lambda: resolve_passphrase(None))
    ids = keystore.add(identity, usage, actor=actor)
    return [_row(r, at) for r in keystore.list() if r.id in ids]


def remove(store: Store, identity_id: int, at: datetime, *, actor: str) -> IdentityRow:
    """Remove one identity row (its sealed key with it); audited as ``keys.remove``."""
    keystore = KeyStore(store)
    found = next((r for r in keystore.list() if r.id == identity_id), None)
    if found is None:
        raise UsageError(f"no identity with id {identity_id}")
    keystore.remove(str(identity_id), actor=actor)
    return _row(found, at)


__all__ = ["FIELDS", "PASSPHRASE_HELP", "IdentityPage", "IdentityRow", "import_pkcs12", "listing", "location_text",
           "passphrase_configured", "remove"]

"""Decrypting with the key store's identities: the keys of ``decrypt``, ``open`` and ``verify`` without ``--key``.

At each encrypted layer the store is asked which of its identities the layer is encrypted for (their certificates
are read without the passphrase); only then is that one key unsealed (scrypt) or opened on its token. A message for
none of them fails with ``no-matching-recipient`` before any key is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..errors import NoMatchingRecipientError, UsageError

if TYPE_CHECKING:
    from ..cms.identity import Identity
    from ..cms.inspection import RecipientIdentifier
    from ..store.keystore import IdentityRecord, KeyStore


class StoreKeys:
    """A ``KeyChooser`` over the key store: for each encrypted layer, the newest identity the layer names (of
    ``address`` only, with ``--as``). ``used`` records the identities used, one per layer."""

    def __init__(self, keystore: Callable[[], KeyStore], address: str | None = None) -> None:
        self._make_keystore = keystore
        self._keystore: KeyStore | None = None
        self.address = address
        self.used: list[IdentityRecord] = []
        self._opened: dict[int, Identity] = {}
        if address is not None and not self.keystore.list(address):
            raise UsageError(f"--as {address}: no identity of that address in the key store")

    @property
    def keystore(self) -> KeyStore:
        """The store, opened when first needed: a message with no encrypted layer never opens it."""
        if self._keystore is None:
            self._keystore = self._make_keystore()
        return self._keystore

    def __call__(self, recipients: Sequence[RecipientIdentifier]) -> Sequence[Identity]:
        records = self.keystore.identities_for_recipients(recipients, self.address)
        if not records:
            raise NoMatchingRecipientError(self._no_match(recipients))
        record = records[0]
        if record.id not in self._opened:
            self._opened[record.id] = self.keystore.get(record.id)
        self.used.append(record)
        return [self._opened[record.id]]

    def _no_match(self, recipients: Sequence[RecipientIdentifier]) -> str:
        if not recipients:
            return "the message names no certificate among its recipients: give the key with --key"
        named = f"the message is encrypted for {len(recipients)} recipient(s) ({'; '.join(str(r) for r in recipients)})"
        if self.address is not None:
            return f"{named}: the identity of {self.address} is not one of them"
        count = len(self.keystore.list())
        if not count:
            return f"{named} and the key store holds no identity: give the key with --key"
        return f"{named} and none of the {count} identities in the key store is one of them: give the key with --key"


def store_keys(address: str | None) -> StoreKeys:
    """The chooser over the key store in the data directory (passphrase or PIN asked only when a key is used)."""

    def open_keystore() -> KeyStore:
        from .keys import keystore  # the store and its cryptography only once an encrypted layer is met

        return keystore()

    return StoreKeys(open_keystore, address)


def used_text(record: IdentityRecord) -> str:
    where = "in the key store" if record.key_location == "store" else "on a PKCS#11 token"
    return f"identity {record.id} ({record.address}, {record.fingerprint[:16]}, key {where})"


def used_dicts(chooser: StoreKeys) -> list[dict[str, Any]]:
    """The identities used, for ``--json``: id, address, fingerprint and where the key is."""
    return [{"id": r.id, "address": r.address, "fingerprint_sha256": r.fingerprint, "key_location": r.key_location}
            for r in chooser.used]


def notice(chooser: StoreKeys) -> None:
    """``mailseal: decrypted with identity ...`` on stderr (not with --quiet)."""
    from .terminal import quiet_requested

    if quiet_requested():
        return
    for record in chooser.used:
        click.echo(f"mailseal: decrypted with {used_text(record)}", err=True)


__all__ = ["StoreKeys", "notice", "store_keys", "used_dicts", "used_text"]

"""What the store knows about addresses, as policy asks it (the ``mailseal.policy.Facts`` protocol): for
`mailseal policy explain` and the console's policy tester, which must answer alike."""

from __future__ import annotations

from datetime import UTC, datetime

from .database import Store
from .directory import Directory
from .keystore import KeyStore


class StoreFacts:
    """Facts from the store, read only: identities in the key store and certificates in the directory. Neither the
    lookup sources (LDAP, SMIMEA) nor path validation are consulted, so the gateway can find a certificate this says
    is missing (`--assume-cert` covers that)."""

    def __init__(self, store: Store, at: datetime | None = None) -> None:
        # Listing identities needs no passphrase: the private keys are never unlocked here.
        self._keys = KeyStore(store)
        self._directory = Directory(store)
        self._at = at or datetime.now(UTC)

    def _identity(self, address: str, usages: tuple[str, ...], *, current: bool) -> bool:
        return any(r.usage in usages and (not current or r.not_before <= self._at <= r.not_after)
                   for r in self._keys.list(address))

    def has_signing_key(self, address: str) -> bool:
        return self._identity(address, ("sign", "dual"), current=True)

    def has_decryption_key(self, address: str) -> bool:
        # An expired key still decrypts what was encrypted to it while it was valid.
        return self._identity(address, ("encrypt", "dual"), current=False)

    def has_certificate(self, address: str) -> bool:
        return bool(self._directory.certificates_for(address, self._at)) or \
            self._identity(address, ("encrypt", "dual"), current=True)


__all__ = ["StoreFacts"]

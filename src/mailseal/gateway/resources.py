"""What the gateway needs from the layers below, opened once: the store's keys and certificates, the trust
list, and the policy's view of them (``Facts``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from ..cms.identity import Identity
from ..errors import MailsealError, TemporaryError
from ..pki.validation import ValidationContext
from ..policy.portal_settings import PortalSettings
from ..store.database import Store
from ..store.directory import Directory
from ..store.keystore import KeyStore
from ..store.lookup import CertificateLookup
from ..store.portal import PortalStore
from ..store.resolution import ResolvedRecipient, resolve_recipient

CACHE_SECONDS = 30.0
CACHE_ENTRIES = 20_000


@dataclass
class _Cached:
    value: Any
    at: float


class Resources:
    """Thread-safe access to keys, certificates and trust for the worker threads. Answers about who has a key or
    a certificate are cached briefly (the store is shared with other nodes and the admin CLI)."""

    def __init__(self, store: Store, keystore: KeyStore, context: ValidationContext,
                 lookup: CertificateLookup | None = None, ttl: float = CACHE_SECONDS,
                 portal: PortalSettings | None = None, post_quantum: str = "hybrid") -> None:
        self.store = store
        self.portal_settings = portal or PortalSettings()
        self._portal: PortalStore | None = None
        self.keys = keystore
        self.directory = Directory(store)
        self.context = context
        self.lookup = lookup
        self.post_quantum = post_quantum  # [policy.smime] post_quantum: which certificates a recipient gets
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], _Cached] = {}

    def _cached(self, kind: str, address: str, compute: Callable[[], Any]) -> Any:
        key = (kind, address.lower())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit.at < self.ttl:
                return hit.value
        value = compute()
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:  # bounded: random addresses must not grow it without end
                self._cache = {k: v for k, v in self._cache.items() if now - v.at < self.ttl}
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
            self._cache[key] = _Cached(value, now)
        return value

    def portal(self) -> PortalStore:
        """The portal's store (docs/portal.md), opened with the portal key at first use (``portal.key`` in the
        home, made then when missing, or ``[portal] key_file``)."""
        if self._portal is None:
            from ..store.portal_key import portal_key

            key = portal_key(self.portal_settings.key_file)
            with self._lock:
                if self._portal is None:
                    self._portal = PortalStore(self.store, key)
        return self._portal

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _identity(self, address: str, usage: str) -> Identity | None:
        try:
            return self.keys.identity_for(address, usage)
        except TemporaryError:  # the store did not answer: no verdict (4xx), never "no key" (unsigned mail)
            raise
        except MailsealError:
            return None

    def signing_identity(self, address: str) -> Identity | None:
        result = self._cached("sign", address, lambda: self._identity(address, "sign"))
        return result if isinstance(result, Identity) else None

    def decryption_identities(self, address: str) -> list[Identity]:
        def load() -> list[Identity]:
            out = []
            for record in self.keys.list(address):
                if record.usage in ("encrypt", "dual"):
                    try:
                        out.append(self.keys.get(record.id))
                    except TemporaryError:  # the store did not answer: 4xx, not a message left encrypted
                        raise
                    except MailsealError:
                        continue
            return out

        result = self._cached("decrypt", address, load)
        return list(result)

    def recipient(self, address: str) -> ResolvedRecipient | None:
        """The certificate to encrypt to: from the directory (and the configured lookup), else, for the
        organisation's own users, the certificate of their encryption identity in the key store."""
        def load() -> ResolvedRecipient | None:
            try:
                return resolve_recipient(address, self.directory, lookup=self.lookup, keys=self.keys,
                                         post_quantum=self.post_quantum)
            except TemporaryError:  # a lookup source did not answer: 4xx (the sender retries), no verdict
                raise
            except MailsealError:
                return None

        result = self._cached("cert", address, load)
        return result if isinstance(result, ResolvedRecipient) else None

    def encryption_certificate_of_sender(self, address: str) -> x509.Certificate | None:
        """The sender's own certificate, so the sent copy stays readable (OWA's 'encrypt to self')."""
        identity = self._cached("own-cert", address, lambda: self._identity(address, "encrypt"))
        return identity.certificate if isinstance(identity, Identity) else None


class StoreFacts:
    """The policy's questions, answered from the store. Signing is only offered for mail whose origin may be
    signed for (trusted networks: the organisation's own submission path)."""

    def __init__(self, resources: Resources, may_sign: bool) -> None:
        self.resources = resources
        self.may_sign = may_sign

    def has_signing_key(self, address: str) -> bool:
        return self.may_sign and self.resources.signing_identity(address) is not None

    def has_decryption_key(self, address: str) -> bool:
        return bool(self.resources.decryption_identities(address))

    def has_certificate(self, address: str) -> bool:
        return self.resources.recipient(address) is not None


def trust_context(trust_files: tuple[Path, ...], store: Store | None = None,
                  home: Path | None = None) -> ValidationContext:
    """The trust list in effect, as the CLI reads it (the store database's when given `store`, a file list in
    `home` taken over into it on first use; else the files), plus any files the gateway settings name."""
    from ..pki.trustlist import FileTrustList
    from ..pki.truststore import TrustStore
    from ..store.trust import StoredTrust, migrate_file_list

    if store is not None:
        migrate_file_list(store, home)
        trust = StoredTrust(store).trust_store()
    else:
        trust = FileTrustList(home).trust_store()
    if trust_files:
        trust = trust.merged(TrustStore.from_files([str(p) for p in trust_files]))
    return ValidationContext(trust=trust)


__all__ = ["Resources", "StoreFacts", "trust_context"]

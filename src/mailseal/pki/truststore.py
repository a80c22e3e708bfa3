"""Trust anchors and intermediates, loaded from PEM bundles, DER, PKCS#7 certs-only and the system store."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from ..cms.identity import dedupe, load_certificates

SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)


@dataclass(frozen=True)
class TrustStore:
    """Anchors (trusted roots) and intermediates that help build paths but are not trusted themselves."""

    anchors: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = field(default_factory=tuple)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], intermediates: Iterable[str | Path] = ()) -> TrustStore:
        anchors: list[x509.Certificate] = []
        for p in paths:
            anchors.extend(load_certificates(Path(p).read_bytes()))
        inter: list[x509.Certificate] = []
        for p in intermediates:
            inter.extend(load_certificates(Path(p).read_bytes()))
        return cls(tuple(dedupe(anchors)), tuple(dedupe(inter)))

    @classmethod
    def system(cls) -> TrustStore:
        """The operating system's bundle, or certifi's when the system has none."""
        for candidate in (os.environ.get("SSL_CERT_FILE"), *SYSTEM_BUNDLES):
            if candidate and Path(candidate).is_file():
                return cls.from_files([candidate])
        import certifi

        return cls.from_files([certifi.where()])

    def merged(self, other: TrustStore) -> TrustStore:
        return TrustStore(
            tuple(dedupe([*self.anchors, *other.anchors])),
            tuple(dedupe([*self.intermediates, *other.intermediates])),
        )


__all__ = ["TrustStore"]

"""The console's trust list: anchors and intermediates, one list (``store.trust.StoredTrust``, the database
implementation of ``pki.trustlist.TrustList`` that `mailseal trust` uses when a store exists): list, add by upload
(PEM, DER, PKCS#7, SST or PKCS#12 certificates, as `mailseal trust add` reads them), remove, export as PEM or SST.
Every change is a ``trust.add`` / ``trust.remove`` audit event (StoredTrust records them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import CertificateError, UsageError
from ..pki.trustlist import AddResult, ExportFormat, TrustEntry
from ..pki.truststore import read_certificates
from ..store.database import Store
from ..store.trust import StoredTrust, migrate_file_list
from .uploads import MAX_UPLOAD


def trust_list(store: Store) -> StoredTrust:
    """The store's trust list, after taking over a file list of the data directory not yet taken over (as
    ``store.trust.open_trust_list`` does for every command): the console shows and changes the list in effect."""
    migrate_file_list(store)
    return StoredTrust(store)


EXPORT_TYPES: dict[str, tuple[str, str]] = {"pem": ("application/x-pem-file", "mailseal-trust.pem"),
                                            "sst": ("application/vnd.ms-pki.certstore", "mailseal-trust.sst")}


@dataclass(frozen=True)
class TrustRow:
    entry: TrustEntry
    validity: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.entry.to_dict(), "validity": self.validity}


def listing(store: Store, at: datetime) -> list[TrustRow]:
    """Anchors first, then intermediates, each in the order added."""
    rows = []
    for entry in trust_list(store).entries():
        cert = entry.certificate
        validity = ("expired" if at > cert.not_valid_after_utc else
                    "not-yet-valid" if at < cert.not_valid_before_utc else "valid")
        rows.append(TrustRow(entry, validity))
    return rows


def add(store: Store, data: bytes, *, intermediate: bool = False, allow_leaf: bool = False,
        password: str | None = None, actor: str) -> AddResult:
    """Add every certificate of the upload as anchors (or intermediates): all or nothing, as `mailseal trust add`
    (a certificate that is not a CA is refused unless ``allow_leaf``)."""
    if len(data) > MAX_UPLOAD:
        raise CertificateError(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    certs = read_certificates(data, password=password or None)
    return trust_list(store).add(certs, intermediate=intermediate, allow_leaf=allow_leaf, actor=actor)


def remove(store: Store, fingerprint: str, *, actor: str) -> list[TrustEntry]:
    """Remove the one certificate whose SHA-256 fingerprint starts with ``fingerprint`` (hex, colons allowed)."""
    wanted = fingerprint.replace(":", "").strip().lower()
    if len(wanted) < 8 or any(ch not in "0123456789abcdef" for ch in wanted):
        raise UsageError("give the SHA-256 fingerprint in hex (at least 8 digits)")
    return trust_list(store).remove(wanted, actor=actor)


def export(store: Store, fmt: ExportFormat, *, anchors_only: bool = False) -> tuple[bytes, str, str]:
    """(the list as a PEM bundle or an SST file, its media type, a file name)."""
    media, name = EXPORT_TYPES[fmt]
    return trust_list(store).export(fmt, anchors_only=anchors_only), media, name


def result_dict(result: AddResult) -> dict[str, Any]:
    return {"added": [e.to_dict() for e in result.added], "moved": [e.to_dict() for e in result.moved],
            "unchanged": [e.to_dict() for e in result.unchanged], "refused": None, "code": None}


__all__ = ["EXPORT_TYPES", "TrustRow", "add", "export", "listing", "remove", "result_dict", "trust_list"]

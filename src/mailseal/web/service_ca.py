"""The console's internal CA (docs/ca.md): what it is and what it issued, and the changes `mailseal ca` makes —
issue in the CA/B Forum S/MIME BR strict mailbox-validated profile, revoke with an RFC 5280 reason, publish a CRL.

The CA is always opened through ``store.ca_register.open_authority`` with the console's store, so its register is
the store's. Signing needs the CA passphrase: ``$MAILSEAL_CA_PASSPHRASE`` of the console's process when it has one,
else the one the admin typed (used for this request only: never stored, logged nor sent back). A new private key
leaves once, in the PKCS#12 the admin asked for, protected by the password the admin typed; the console keeps no
copy. The CA layer does not audit: every change is one audit event here (``ca.issue``, ``ca.revoke``, ``ca.crl``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..cms.names import name_text, serial_text
from ..errors import UsageError
from ..pki.authority import (
    CRL_FILE,
    MAX_VALIDITY_DAYS,
    REASONS,
    USAGES,
    USER_KEY_TYPES,
    CAError,
    CertificateAuthority,
    IssuedRecord,
    default_directory,
    parse_serial,
)
from ..pki.profile import describe_key
from ..store import audit
from ..store.ca_register import open_authority
from ..store.database import Store
from ..store.expiry import ca_items

PASSPHRASE_ENV = "MAILSEAL_CA_PASSPHRASE"
#: The shortest PKCS#12 password the console accepts: the file travels to the user, the password apart from it.
MIN_P12_PASSWORD = 8
CRL_MEDIA_TYPE = "application/pkix-crl"
OCSP_COMMAND = "mailseal ca ocsp"
__all__ = ["CRL_MEDIA_TYPE", "MAX_VALIDITY_DAYS", "MIN_P12_PASSWORD", "OCSP_COMMAND", "PASSPHRASE_ENV", "REASONS",
           "USAGES", "USER_KEY_TYPES", "Authority", "IssuedFile", "PublishedCRL", "crl_file", "issue",
           "overview", "passphrase_in_environment", "publish_crl", "revoke"]


@dataclass(frozen=True)
class Authority:
    """The CA as the page shows it, with one page of its register."""

    directory: Path
    name: str
    subject: str
    serial: str
    key_type: str
    not_before: datetime
    not_after: datetime
    crl_url: str | None
    ocsp_url: str | None
    crl_number: str | None
    crl_next_update: datetime | None
    total: int
    records: list[IssuedRecord]
    limit: int
    offset: int
    at: datetime

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "name": self.name, "subject": self.subject, "serial": self.serial,
                "key_type": self.key_type, "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat(), "crl_url": self.crl_url, "ocsp_url": self.ocsp_url,
                "crl": None if self.crl_number is None else {
                    "number": self.crl_number,
                    "next_update": self.crl_next_update.isoformat() if self.crl_next_update else None},
                "ocsp": {"in_certificates": self.ocsp_url is not None, "command": OCSP_COMMAND},
                "certificates": {"limit": self.limit, "offset": self.offset, "next_offset": self.next_offset,
                                 "total": self.total, "items": [r.to_dict(self.at) for r in self.records]}}


def _where(directory: Path | None) -> Path:
    return directory or default_directory()


def _need(directory: Path) -> None:
    if not CertificateAuthority.exists(directory):
        raise CAError(f"no CA in {directory}: create one with `mailseal ca init --name NAME` (see docs/ca.md)")


def overview(store: Store, directory: Path | None, at: datetime, *, limit: int = 50,
             offset: int = 0) -> Authority | None:
    """The CA in ``directory`` (None when there is none) and ``limit`` of its certificates, newest first."""
    where = _where(directory)
    if not CertificateAuthority.exists(where):
        return None
    with open_authority(where, store=store) as ca:
        records = ca.records()
    records.reverse()
    crl = next((i for i in ca_items(where, store) if i.kind == "crl"), None)
    cert = ca.certificate
    return Authority(where, ca.config.name, name_text(cert.subject), serial_text(cert.serial_number),
                     describe_key(cert), cert.not_valid_before_utc, cert.not_valid_after_utc, ca.config.crl_url,
                     ca.config.ocsp_url, crl.serial if crl else None, crl.not_after if crl else None, len(records),
                     records[offset:offset + limit], limit, offset, at)


def passphrase_in_environment() -> bool:
    """Whether the console's process has the CA passphrase (then the forms do not ask for it)."""
    return bool(os.environ.get(PASSPHRASE_ENV))


def _passphrase(given: str | None) -> bytes:
    value = os.environ.get(PASSPHRASE_ENV) or given
    if not value:
        raise UsageError(f"signing needs the CA passphrase: type it in the form, or start the console with "
                         f"{PASSPHRASE_ENV} set")
    return value.encode()


@dataclass(frozen=True)
class IssuedFile:
    """A certificate just issued and its PKCS#12 (key, certificate, CA certificate), handed out once."""

    record: IssuedRecord
    pkcs12: bytes

    @property
    def filename(self) -> str:
        local = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in self.record.email.split("@")[0])
        # An ML-DSA / ML-KEM key comes as a PEM bundle (encrypted PKCS#8 and both certificates; docs/pq.md).
        suffix = "pem" if self.pkcs12.startswith(b"-----BEGIN") else "p12"
        return f"{local or 'user'}-{self.record.serial_hex[:16]}.{suffix}"

    @property
    def media_type(self) -> str:
        return "application/x-pem-file" if self.pkcs12.startswith(b"-----BEGIN") else "application/pkcs12"


def issue(store: Store, directory: Path | None, *, email: str, usage: str, key_type: str, days: int,
          p12_password: str, ca_passphrase: str | None, actor: str, legacy: bool = False) -> IssuedFile:
    """Issue a mailbox-validated strict certificate with a new key, as `mailseal ca issue`; the key is only in the
    returned PKCS#12 (``legacy``: 3DES and SHA-1, the only kind gpgsm 2.2 and older NSS import)."""
    if len(p12_password) < MIN_P12_PASSWORD:
        raise UsageError(f"the PKCS#12 password must have at least {MIN_P12_PASSWORD} characters")
    if usage not in USAGES:
        raise UsageError(f"usage must be one of {', '.join(USAGES)}")
    if key_type not in USER_KEY_TYPES:
        raise UsageError(f"key type must be one of {', '.join(USER_KEY_TYPES)}")
    where = _where(directory)
    _need(where)
    with open_authority(where, _passphrase(ca_passphrase), store=store) as ca:
        issued = ca.issue(email, usage=usage, key_type=key_type, days=days)
        data = ca.pkcs12(issued, p12_password, legacy=legacy)
    record = issued.record
    with store.session() as session:
        audit.record(session, "ca.issue", serial_text(record.serial),
                     {"email": record.email, "usage": usage, "key_type": key_type, "days": days, "legacy": legacy,
                      "not_after": record.not_after.isoformat()}, actor)
    return IssuedFile(record, data)


def revoke(store: Store, directory: Path | None, serial: str, reason: str, *, actor: str) -> IssuedRecord:
    """Record the revocation of the certificate with ``serial`` (hex, colons allowed); published by the next CRL
    and at once by the OCSP responder (it reads the register)."""
    if reason not in REASONS:
        raise UsageError(f"reason must be one of {', '.join(REASONS)}")
    number = parse_serial(serial)
    where = _where(directory)
    _need(where)
    with open_authority(where, store=store) as ca:
        if ca.find(number) is None:
            raise CAError(f"no certificate with serial {serial_text(number)} was issued by this CA")
        record = ca.revoke(number, reason)
    with store.session() as session:
        audit.record(session, "ca.revoke", serial_text(record.serial), {"email": record.email, "reason": reason},
                     actor)
    return record


@dataclass(frozen=True)
class PublishedCRL:
    number: int
    revoked: int
    next_update: datetime | None
    path: Path


def publish_crl(store: Store, directory: Path | None, *, ca_passphrase: str | None, actor: str,
                days: int = 7) -> PublishedCRL:
    """Sign a full CRL with the next number and replace ``crl.der`` in the CA directory atomically, as `mailseal
    ca crl` does."""
    where = _where(directory)
    _need(where)
    with open_authority(where, _passphrase(ca_passphrase), store=store) as ca:
        crl = ca.crl(days)
    published = PublishedCRL(ca.register.last_crl_number(), len(crl), crl.next_update_utc, where / CRL_FILE)
    with store.session() as session:
        audit.record(session, "ca.crl", str(published.number),
                     {"revoked": published.revoked, "days": days,
                      "next_update": published.next_update.isoformat() if published.next_update else None}, actor)
    return published


def crl_file(directory: Path | None) -> bytes:
    """The last CRL published (DER)."""
    where = _where(directory)
    _need(where)
    path = where / CRL_FILE
    if not path.is_file():
        raise CAError("no CRL published yet: publish one first (`mailseal ca crl` or the console's CA page)")
    return path.read_bytes()

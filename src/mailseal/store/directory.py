"""The certificate directory: correspondents' certificates by address (RFC 8550 §3), with source and capabilities."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Insert, bindparam, delete, func, or_, select, update

from ..cms.identity import fingerprint
from ..cms.names import name_text, serial_text
from ..errors import UsageError
from ..pki.profile import certificate_emails, normalize_address
from . import audit
from .database import Store
from .tables import recipient_certificates, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SOURCES: tuple[str, ...] = ("imported", "harvested", "ldap", "smimea", "ca")
_RC = recipient_certificates.c


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DirectoryEntry:
    """One certificate filed under one address."""

    id: int
    address: str
    fingerprint: str
    der: bytes
    source: str
    not_before: datetime
    not_after: datetime
    first_seen: datetime
    last_seen: datetime
    capabilities: tuple[str, ...] | None
    capabilities_time: datetime | None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    def to_dict(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "id": self.id, "address": self.address, "fingerprint_sha256": self.fingerprint,
            "subject": name_text(cert.subject), "issuer": name_text(cert.issuer),
            "serial": serial_text(cert.serial_number), "source": self.source,
            "not_before": _iso(self.not_before), "not_after": _iso(self.not_after),
            "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
            "capabilities": None if self.capabilities is None else list(self.capabilities),
            "capabilities_time": _iso(self.capabilities_time),
        }


_COLUMNS = (
    _RC.id, _RC.address, _RC.fingerprint, _RC.certificate, _RC.source, _RC.not_before, _RC.not_after,
    _RC.first_seen, _RC.last_seen, _RC.capabilities, _RC.capabilities_time,
)

_FIND_BY_ADDRESS = (select(*_COLUMNS).where(_RC.address == bindparam("address"))
                    .order_by(_RC.not_after.desc(), _RC.id))


def _row_caps(row: Any) -> list[Any]:
    values = list(row)
    values[9] = None if values[9] is None else tuple(values[9])
    return values


def _entry(row: Any) -> DirectoryEntry:
    return DirectoryEntry(row.id, row.address, row.fingerprint, row.certificate, row.source, row.not_before,
                          row.not_after, row.first_seen, row.last_seen,
                          None if row.capabilities is None else tuple(row.capabilities), row.capabilities_time)


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one certificate: ``added`` (with the addresses), ``known`` or ``skipped`` with a reason."""

    fingerprint: str
    status: str  # added | known | skipped
    addresses: tuple[str, ...] = ()
    reason: str | None = None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _insert(session: Session) -> Any:
    # INSERT ... ON CONFLICT DO NOTHING: two processes filing the same certificate at once both succeed, and
    # the unique (address, fingerprint) constraint keeps exactly one row.
    # The dialect's module is imported here, for writers only: importing both costs more than a lookup.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module  # type: ignore[no-redef]
    return module.insert(recipient_certificates)


def file_certificate(session: Session, cert: x509.Certificate, source: str, *, when: datetime | None = None,
                     actor: str | None = None, addresses: Iterable[str] | None = None) -> ImportOutcome:
    """File ``cert`` under each of its addresses (or only ``addresses``) in the caller's transaction."""
    if source not in SOURCES:
        raise UsageError(f"source must be one of {', '.join(SOURCES)}")
    fp = fingerprint(cert)
    if _is_ca(cert):
        return ImportOutcome(fp, "skipped", reason="a CA certificate, not a correspondent's certificate")
    addrs = list(dict.fromkeys(normalize_address(a) for a in (addresses or certificate_emails(cert))))
    if not addrs:
        return ImportOutcome(fp, "skipped", reason="the certificate carries no e-mail address")
    now = when or utcnow()
    der = cert.public_bytes(serialization.Encoding.DER)
    added: list[str] = []
    for addr in addrs:
        stmt: Insert = _insert(session).values(
            address=addr, fingerprint=fp, certificate=der, source=source, not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc, first_seen=now, last_seen=now,
        ).on_conflict_do_nothing(index_elements=["address", "fingerprint"]).returning(_RC.id)
        if session.execute(stmt).first() is not None:
            added.append(addr)
            audit.record(session, f"certs.{'harvest' if source == 'harvested' else 'import'}", addr,
                         {"fingerprint": fp, "source": source}, actor)
        else:
            session.execute(update(recipient_certificates)
                            .where(_RC.address == addr, _RC.fingerprint == fp, _RC.last_seen < now)
                            .values(last_seen=now))
    return ImportOutcome(fp, "added" if added else "known", tuple(added))


class Directory:
    """Recipient certificates in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, cert: x509.Certificate, source: str = "imported", *, when: datetime | None = None,
            actor: str | None = None) -> ImportOutcome:
        with self.store.session() as session:
            return file_certificate(session, cert, source, when=when, actor=actor)

    def add_many(self, certs: Iterable[x509.Certificate], source: str = "imported", *, batch: int = 500,
                 actor: str | None = None) -> list[ImportOutcome]:
        """File many certificates, ``batch`` per transaction (bulk import)."""
        out: list[ImportOutcome] = []
        pending = list(certs)
        for start in range(0, len(pending), batch):
            with self.store.session() as session:
                out.extend(file_certificate(session, c, source, actor=actor) for c in pending[start:start + batch])
        return out

    def find(self, address: str) -> list[DirectoryEntry]:
        """Every certificate filed under ``address``, the one that expires last first."""
        # One prebuilt Core statement rather than ORM objects: this runs once per recipient of every message.
        with self.store.lookup() as conn:
            return [DirectoryEntry(*_row_caps(row))
                    for row in conn.execute(_FIND_BY_ADDRESS, {"address": normalize_address(address)})]

    def certificates_for(self, address: str, at: datetime | None = None) -> list[x509.Certificate]:
        """Certificates for ``address`` inside their validity period at ``at`` (not yet path-validated)."""
        when = at or datetime.now(UTC)
        return [e.certificate for e in self.find(address) if e.not_before <= when <= e.not_after]

    def capabilities_for(self, address: str) -> tuple[str, ...] | None:
        """The newest SMIMECapabilities learned for ``address`` (by signing time), or None when none is known."""
        query = (select(_RC.capabilities)
                 .where(_RC.address == normalize_address(address), _RC.capabilities.is_not(None))
                 .order_by(_RC.capabilities_time.desc()).limit(1))
        with self.store.lookup() as conn:
            caps = conn.execute(query).scalars().first()
        return None if caps is None else tuple(caps)

    def show(self, fp: str) -> list[DirectoryEntry]:
        """Entries of one certificate by its SHA-256 fingerprint (hex, colons allowed, a unique prefix of 8+)."""
        wanted = fp.replace(":", "").lower()
        if len(wanted) < 8 or any(ch not in "0123456789abcdef" for ch in wanted):
            raise UsageError("give the SHA-256 fingerprint in hex (at least 8 digits)")
        cond = _RC.fingerprint == wanted if len(wanted) == 64 else _RC.fingerprint.startswith(wanted)
        with self.store.lookup() as conn:
            rows = [_entry(r) for r in conn.execute(select(recipient_certificates).where(cond).order_by(_RC.id))]
        if len({r.fingerprint for r in rows}) > 1:
            raise UsageError(f"the fingerprint prefix {fp} matches several certificates: give more digits")
        return rows

    def entries(self, sources: Iterable[str] | None = None) -> list[DirectoryEntry]:
        """Every entry by address, or only those filed from ``sources`` (``imported``, ``ca``...)."""
        query = select(recipient_certificates).order_by(_RC.address, _RC.id)
        if sources is not None:
            query = query.where(_RC.source.in_(list(sources)))
        with self.store.lookup() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def search(self, address_part: str | None = None, fingerprint_prefix: str | None = None, *,
               limit: int | None = None, offset: int = 0) -> tuple[list[list[DirectoryEntry]], int]:
        """The certificates whose addresses contain ``address_part`` (case ignored) and whose SHA-256 fingerprint
        starts with ``fingerprint_prefix`` (hex, colons allowed), each as its entries (one per address): ordered
        by first address, the one that expires last first; with the number matched in all. The filtering, the
        order and the page are the database's, so a page costs the same in a directory of 50 or 50,000."""
        first, newest = func.min(_RC.address).label("first"), func.max(_RC.not_after).label("newest")
        matched = select(_RC.fingerprint, first, newest).group_by(_RC.fingerprint)
        if address_part and address_part.strip():
            needle = address_part.strip().lower()
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            holders = select(_RC.fingerprint).where(func.lower(_RC.address).like(f"%{escaped}%", escape="\\"))
            matched = matched.where(_RC.fingerprint.in_(holders))
        if fingerprint_prefix and fingerprint_prefix.strip():
            prefix = fingerprint_prefix.replace(":", "").strip().lower()
            matched = matched.where(_RC.fingerprint.startswith(prefix, autoescape=True))
        page = matched.order_by(first, newest.desc(), _RC.fingerprint).offset(max(0, offset))
        if limit is not None:
            page = page.limit(max(0, limit))
        with self.store.lookup() as conn:
            total = conn.execute(select(func.count()).select_from(matched.subquery())).scalar_one()
            fps = [row.fingerprint for row in conn.execute(page)]
            rows = [_entry(r) for r in conn.execute(select(recipient_certificates)
                                                     .where(_RC.fingerprint.in_(fps))
                                                     .order_by(_RC.address, _RC.id))] if fps else []
        grouped: dict[str, list[DirectoryEntry]] = {fp: [] for fp in fps}
        for entry in rows:
            grouped[entry.fingerprint].append(entry)
        return list(grouped.values()), int(total)

    def remove(self, fp: str, actor: str | None = None) -> int:
        rows = self.show(fp)
        if not rows:
            raise UsageError(f"no certificate with fingerprint {fp}")
        with self.store.session() as session:
            session.execute(delete(recipient_certificates).where(_RC.fingerprint == rows[0].fingerprint))
            for r in rows:
                audit.record(session, "certs.remove", r.address, {"fingerprint": r.fingerprint}, actor)
        return len(rows)

    def expiring(self, days: int, at: datetime | None = None) -> list[DirectoryEntry]:
        """Certificates that expire within ``days`` of ``at`` (already expired ones not included)."""
        when = at or datetime.now(UTC)
        query = (select(recipient_certificates)
                 .where(_RC.not_after >= when, _RC.not_after <= when + timedelta(days=days))
                 .order_by(_RC.not_after, _RC.address))
        with self.store.lookup() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def learn_capabilities(self, session: Session, address: str, fp: str, capabilities: tuple[str, ...],
                           signing_time: datetime | None) -> bool:
        """Remember what a valid signer advertised unless newer knowledge is there; True when it was kept."""
        cond = [_RC.address == normalize_address(address), _RC.fingerprint == fp]
        if signing_time is None:
            # Without a signing time an advertisement cannot be ordered: it only fills a gap.
            cond.append(_RC.capabilities.is_(None))
        else:
            cond.append(or_(_RC.capabilities_time.is_(None), _RC.capabilities_time < signing_time))
        result = session.execute(update(recipient_certificates).where(*cond)
                                 .values(capabilities=list(capabilities), capabilities_time=signing_time))
        return bool(result.rowcount)  # type: ignore[attr-defined]


__all__ = ["SOURCES", "Directory", "DirectoryEntry", "ImportOutcome", "file_certificate", "fingerprint"]

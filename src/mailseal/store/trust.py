"""The trust list in the store database, and which trust list is in effect (docs/trust.md, "Where the trust list
lives").

``StoredTrust`` is the database implementation of ``mailseal.pki.trustlist.TrustList``: the same semantics as the
file list (certificates identified by their SHA-256 fingerprint, adding one twice changes nothing, adding an
anchor as an intermediate or the reverse moves it, anchors must be CA certificates unless the caller allows
leaves), shared by every node on the same database. Every change is an audit event (``trust.add``,
``trust.remove``) committed in the same transaction.

The rule: **the database when a store exists** (``$MAILSEAL_DB_URL`` is set, or ``mailseal.db`` is in the data
directory; checking never creates one), else the files. On first use of a store, a file list is taken over into
the database (``migrate_file_list``) and its files renamed ``*.pem.migrated``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import ConfigurationError, TemporaryError
from ..pki.trustlist import (
    AddResult,
    ExportFormat,
    FileTrustList,
    Kind,
    TrustEntry,
    TrustList,
    check_addable,
    check_removable,
    export_entries,
    fingerprint,
    select_entries,
)
from ..pki.truststore import TrustStore
from . import audit
from .database import Store, database_url, display_url, existing_database_url
from .models import TrustCertificate

_KINDS: tuple[Kind, ...] = ("anchor", "intermediate")


class StoredTrust:
    """Anchors and intermediates kept in the ``trust_certificates`` table of one store."""

    where = "the trust list in the store database"

    def __init__(self, store: Store) -> None:
        self.store = store

    def entries(self) -> list[TrustEntry]:
        """Every stored certificate: anchors first, then intermediates, each in the order added."""
        with self.store.reading() as session:
            rows = [(r.kind, r.certificate) for r in
                    session.scalars(select(TrustCertificate).order_by(TrustCertificate.id))]
        out: list[TrustEntry] = []
        for kind in _KINDS:
            out.extend(TrustEntry(x509.load_der_x509_certificate(der), kind) for k, der in rows if k == kind)
        return out

    def trust_store(self) -> TrustStore:
        """The stored list as a TrustStore (empty when nothing was added)."""
        current = self.entries()
        return TrustStore(anchors=tuple(e.certificate for e in current if e.kind == "anchor"),
                          intermediates=tuple(e.certificate for e in current if e.kind == "intermediate"))

    def add(self, certs: Sequence[x509.Certificate], intermediate: bool = False, actor: str | None = None, *,
            allow_leaf: bool = False) -> AddResult:
        """Add certificates as anchors (or intermediates), all or nothing.

        Certificates that are not CA certificates are refused (``UsageError``) unless `allow_leaf`; one already
        present as the same kind is left alone, one present as the other kind changes kind.
        """
        check_addable(certs, allow_leaf)
        kind: Kind = "intermediate" if intermediate else "anchor"
        unique: dict[str, x509.Certificate] = {}
        for cert in certs:
            unique.setdefault(fingerprint(cert), cert)
        try:
            return self._add(unique, kind, actor)
        except IntegrityError:
            # Another node added one of them at the same moment: its row is there now, so try once more.
            return self._add(unique, kind, actor)

    def _add(self, unique: dict[str, x509.Certificate], kind: Kind, actor: str | None) -> AddResult:
        added: list[TrustEntry] = []
        moved: list[TrustEntry] = []
        unchanged: list[TrustEntry] = []
        with self.store.session() as session:
            present = {r.fingerprint: r for r in session.scalars(
                select(TrustCertificate).where(TrustCertificate.fingerprint.in_(list(unique))))}
            for fp, cert in unique.items():
                row = present.get(fp)
                subject = cert.subject.rfc4514_string()
                entry = TrustEntry(cert, kind)
                if row is not None and row.kind == kind:
                    unchanged.append(entry)
                    continue
                if row is not None:
                    audit.record(session, "trust.add", fp, {"kind": kind, "moved_from": row.kind,
                                                            "subject": subject}, actor=actor)
                    row.kind = kind
                    moved.append(entry)
                else:
                    session.add(TrustCertificate(fingerprint=fp, kind=kind,
                                                 certificate=cert.public_bytes(serialization.Encoding.DER)))
                    audit.record(session, "trust.add", fp, {"kind": kind, "subject": subject}, actor=actor)
                    added.append(entry)
        return AddResult(tuple(added), tuple(moved), tuple(unchanged))

    def take_over(self, listed: Sequence[TrustEntry], source: str, actor: str | None = None) -> list[TrustEntry]:
        """Add entries of another list (a file list being migrated) each as its own kind, leaving alone any
        certificate the database already holds (as either kind); one ``trust.add`` event each, whose detail names
        `source` (``migrated_from``). The entries added."""
        try:
            return self._take_over(listed, source, actor)
        except IntegrityError:
            return self._take_over(listed, source, actor)

    def _take_over(self, listed: Sequence[TrustEntry], source: str, actor: str | None) -> list[TrustEntry]:
        added: list[TrustEntry] = []
        with self.store.session() as session:
            present = set(session.scalars(select(TrustCertificate.fingerprint).where(
                TrustCertificate.fingerprint.in_([e.fingerprint for e in listed]))))
            for entry in listed:
                if entry.fingerprint in present:
                    continue
                present.add(entry.fingerprint)
                session.add(TrustCertificate(fingerprint=entry.fingerprint, kind=entry.kind,
                                             certificate=entry.certificate.public_bytes(serialization.Encoding.DER)))
                audit.record(session, "trust.add", entry.fingerprint,
                             {"kind": entry.kind, "subject": entry.certificate.subject.rfc4514_string(),
                              "migrated_from": source}, actor=actor)
                added.append(entry)
        return added

    def select(self, selector: str) -> list[TrustEntry]:
        """The entries a selector names (``mailseal.pki.trustlist.select_entries``)."""
        return select_entries(self.entries(), selector)

    def remove(self, selector: str, *, all_matches: bool = False, actor: str | None = None) -> list[TrustEntry]:
        """Remove what `selector` names (``check_removable``) and return it."""
        matched = check_removable(self.entries(), selector, all_matches, "the stored trust list")
        with self.store.session() as session:
            session.execute(delete(TrustCertificate).where(
                TrustCertificate.fingerprint.in_([e.fingerprint for e in matched])))
            for e in matched:
                audit.record(session, "trust.remove", e.fingerprint, {"kind": e.kind, "subject": e.subject},
                             actor=actor)
        return matched

    def export(self, fmt: ExportFormat = "pem", *, anchors_only: bool = False) -> bytes:
        """The stored list as a PEM bundle or an SST file: anchors, then intermediates."""
        return export_entries(self.entries(), fmt, anchors_only=anchors_only)


def migrate_file_list(store: Store, home: Path | None = None, actor: str | None = None) -> list[TrustEntry]:
    """Take the file list of `home` (default: the data directory) over into `store`, then rename its files
    ``*.pem.migrated`` so that it is taken over once. The entries the database did not hold yet; nothing when
    the file list is empty. The database commits first: a crash before the rename only repeats a take-over that
    adds nothing."""
    files = FileTrustList(home)
    listed = files.entries()
    if not listed:
        return []
    added = StoredTrust(store).take_over(listed, str(files.folder), actor)
    files.retire()
    return added


def store_exists() -> bool:
    """Whether a store exists: ``$MAILSEAL_DB_URL`` is set, or ``mailseal.db`` is in the data directory."""
    return existing_database_url() is not None


@contextmanager
def open_trust_list(*, use_store: bool = False, home: Path | None = None) -> Iterator[TrustList]:
    """The trust list in effect: the store database's when a store exists (the file list taken over on first
    use), else the files of `home`. `use_store` asks for the database even when none exists yet (it is then
    created, as ``mailseal trust add --store`` always did). `home` names the files only: the store is found as
    every command finds it (``$MAILSEAL_DB_URL``, else the data directory). The store is closed on leaving."""
    url = existing_database_url()
    if url is None and not use_store:
        yield FileTrustList(home)
        return
    try:
        store = Store.open(url)
    except (OperationalError, TemporaryError) as exc:
        # The list lives in that database: falling back to the files would trust something else, silently.
        where = display_url(url or database_url())
        reason = (exc.message if isinstance(exc, TemporaryError) else str(exc.orig or exc)).strip().splitlines()[0]
        raise ConfigurationError(f"the store database {where} holds the trust list but cannot be opened ({reason}); "
                                 "verify and open can trust files instead with --trust FILE") from None
    try:
        migrate_file_list(store, home)
        yield StoredTrust(store)
    finally:
        store.close()


def effective_trust_store(home: Path | None = None) -> TrustStore:
    """The anchors and intermediates of the trust list in effect (`open_trust_list`), for a ValidationContext."""
    with open_trust_list(home=home) as trust:
        return trust.trust_store()


__all__ = ["StoredTrust", "effective_trust_store", "migrate_file_list", "open_trust_list", "store_exists"]

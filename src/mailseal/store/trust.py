"""The trust list in the store database: anchors and intermediates shared by every node on the same database.

The same semantics as the file trust list (``mailseal.pki.trustlist``): certificates are identified by their
SHA-256 fingerprint, adding one twice changes nothing, adding an anchor as an intermediate (or the reverse) moves
it, and anchors must be CA certificates unless the caller allows leaves. Every change is an audit event
(``trust.add``, ``trust.remove``) committed in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..errors import UsageError
from ..pki.trustlist import Kind, TrustEntry, check_addable, fingerprint
from ..pki.truststore import TrustStore, read_certificate_file
from . import audit
from .database import Store
from .models import TrustCertificate

_KINDS: tuple[Kind, ...] = ("anchor", "intermediate")


def _hex_prefix(selector: str) -> str | None:
    hex_form = selector.replace(":", "").strip().lower()
    if 4 <= len(hex_form) <= 64 and all(c in "0123456789abcdef" for c in hex_form):
        return hex_form
    return None


class StoredTrust:
    """Anchors and intermediates kept in the ``trust_certificates`` table of one store."""

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
            allow_leaf: bool = False) -> list[str]:
        """Add certificates as anchors (or intermediates), all or nothing; the fingerprints added or moved.

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

    def _add(self, unique: dict[str, x509.Certificate], kind: Kind, actor: str | None) -> list[str]:
        changed: list[str] = []
        with self.store.session() as session:
            present = {r.fingerprint: r for r in session.scalars(
                select(TrustCertificate).where(TrustCertificate.fingerprint.in_(list(unique))))}
            for fp, cert in unique.items():
                row = present.get(fp)
                subject = cert.subject.rfc4514_string()
                if row is not None and row.kind == kind:
                    continue
                if row is not None:
                    audit.record(session, "trust.add", fp, {"kind": kind, "moved_from": row.kind,
                                                            "subject": subject}, actor=actor)
                    row.kind = kind
                else:
                    session.add(TrustCertificate(fingerprint=fp, kind=kind,
                                                 certificate=cert.public_bytes(serialization.Encoding.DER)))
                    audit.record(session, "trust.add", fp, {"kind": kind, "subject": subject}, actor=actor)
                changed.append(fp)
        return changed

    def select(self, selector: str) -> list[TrustEntry]:
        """The entries a selector names: a certificate file, a fingerprint prefix (hex, colons allowed, at least
        4 digits) or else a case-insensitive substring of the subject."""
        current = self.entries()
        path = Path(selector)
        if path.is_file():
            wanted = {fingerprint(c) for c in read_certificate_file(path)}
            return [e for e in current if e.fingerprint in wanted]
        prefix = _hex_prefix(selector)
        if prefix is not None:
            by_fp = [e for e in current if e.fingerprint.startswith(prefix)]
            if by_fp:
                return by_fp
        needle = selector.casefold()
        return [e for e in current if needle in e.subject.casefold()]

    def remove(self, selector: str, *, all_matches: bool = False, actor: str | None = None) -> list[TrustEntry]:
        """Remove what `selector` names (see `select`) and return it; naming nothing is a ``UsageError``, and so
        is naming several by prefix or subject text without `all_matches`."""
        if not selector.strip():
            raise UsageError("give a fingerprint prefix, part of a subject, or a certificate file")
        matched = self.select(selector)
        if not matched:
            raise UsageError(f"no certificate in the stored trust list matches {selector!r}")
        if len(matched) > 1 and not all_matches and not Path(selector).is_file():
            raise UsageError(
                f"{len(matched)} certificates match {selector!r}; give a longer fingerprint prefix, or --all to"
                " remove them all"
            )
        with self.store.session() as session:
            session.execute(delete(TrustCertificate).where(
                TrustCertificate.fingerprint.in_([e.fingerprint for e in matched])))
            for e in matched:
                audit.record(session, "trust.remove", e.fingerprint, {"kind": e.kind, "subject": e.subject},
                             actor=actor)
        return matched


__all__ = ["StoredTrust"]

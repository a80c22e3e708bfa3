"""When certificates run out: the CA certificate and its CRL's next update, the certificates the CA issued, the
key store's identities, correspondents' certificates in the directory and the trust anchors and intermediates.

One computation for `mailseal certs expiring`, `mailseal status` and the gateway's expiry metric. A certificate
that a later one of the same holder replaces (same address and usage, same CA subject) is *superseded*: its end
needs nobody's attention, so it is reported apart and never counts as expiring (RFC 5280 §4.1.2.5 notAfter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import func, select

from ..cms.names import name_text, serial_text
from .database import Store
from .tables import identities, recipient_certificates, trust_certificates

#: Kinds in the order they are shown when two end at the same moment.
KINDS: tuple[str, ...] = ("ca", "crl", "issued", "identity", "directory", "anchor", "intermediate")
#: A CRL counts as ending only this close to its next update, whatever the window: it is re-signed every day or so
#: (the timer of docs/monitoring.md), so a weekly CRL always ends within a month, and that is no news.
CRL_MARGIN = timedelta(days=2)
_RC = recipient_certificates.c
_ID = identities.c
_TC = trust_certificates.c


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ExpiryItem:
    """One thing that ends: ``kind`` (see KINDS), ``name`` (an address, or a subject for CA certificates),
    ``serial`` (hex as `certs inspect` shows it; the CRL number for a CRL), ``not_after`` (a CRL's next update)."""

    kind: str
    name: str
    serial: str
    not_after: datetime
    where: str
    fingerprint: str | None = None
    usage: str | None = None
    superseded: bool = False

    def seconds_left(self, at: datetime) -> float:
        return (self.not_after - at).total_seconds()

    def days_left(self, at: datetime) -> int:
        """Whole days left (rounded down; negative once past)."""
        return int(self.seconds_left(at) // 86400)

    def to_dict(self, at: datetime) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "serial": self.serial, "not_after": _iso(self.not_after),
                "days_left": self.days_left(at), "expired": self.not_after <= at, "where": self.where,
                "fingerprint_sha256": self.fingerprint, "usage": self.usage, "superseded": self.superseded}


def _roles(usage: str) -> set[str]:
    return {"sign", "encrypt"} if usage == "dual" else {usage}


def _mark_superseded(items: list[ExpiryItem], key: Any) -> list[ExpiryItem]:
    """An item is superseded when, for every role it has, an item with the same ``key`` and that role lasts
    longer (an identity renewed, a trust anchor re-issued under the same subject)."""
    latest: dict[tuple[Any, str], datetime] = {}
    for item in items:
        for role in _roles(item.usage or "any"):
            k = (key(item), role)
            latest[k] = max(latest.get(k, item.not_after), item.not_after)
    return [replace(item, superseded=all(latest[(key(item), r)] > item.not_after for r in _roles(item.usage or "any")))
            for item in items]


def _subject_or_address(cert: x509.Certificate) -> str:
    return name_text(cert.subject) or serial_text(cert.serial_number)


def ca_items(directory: Path | None = None, store: Store | None = None) -> list[ExpiryItem]:
    """The internal CA's certificate, its last CRL's next update and the certificates it issued (not revoked),
    from its register (the store's when there is one: ``ca_register.open_authority``)."""
    from ..pki.authority import CRL_FILE, CertificateAuthority, default_directory
    from .ca_register import open_authority

    where = directory or default_directory()
    if not CertificateAuthority.exists(where):
        return []
    with open_authority(where, store=store) as ca:
        records = ca.records()
    cert = ca.certificate
    subject = _subject_or_address(cert)
    out = [ExpiryItem("ca", subject, serial_text(cert.serial_number), cert.not_valid_after_utc, str(where))]
    crl_path = where / CRL_FILE
    if crl_path.is_file():
        crl = x509.load_der_x509_crl(crl_path.read_bytes())
        if crl.next_update_utc is not None:
            try:
                number = str(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
            except x509.ExtensionNotFound:
                number = ""
            out.append(ExpiryItem("crl", subject, number, crl.next_update_utc, str(crl_path)))
    issued = [ExpiryItem("issued", r.email, serial_text(r.serial), r.not_after, str(where), usage=r.usage)
              for r in records if r.revoked_at is None]
    return out + _mark_superseded(issued, lambda i: i.name)


def trust_items(store: Store | None, home: Path | None = None) -> list[ExpiryItem]:
    """Trust anchors and intermediates: the trust list's files and the store's table, each certificate once."""
    from ..pki import trustlist

    seen: dict[str, ExpiryItem] = {}
    listed = [(e.kind, e.certificate, str(trustlist.trust_dir(home))) for e in trustlist.entries(home)]
    stored: list[tuple[str, x509.Certificate, str]] = []
    if store is not None:
        with store.lookup() as conn:
            stored = [(r.kind, x509.load_der_x509_certificate(r.certificate), "store")
                      for r in conn.execute(select(_TC.kind, _TC.certificate).order_by(_TC.id))]
    for kind, cert, where in [*listed, *stored]:
        fp = trustlist.fingerprint(cert)
        if fp not in seen:
            seen[fp] = ExpiryItem(kind, _subject_or_address(cert), serial_text(cert.serial_number),
                                  cert.not_valid_after_utc, where, fp)
    return _mark_superseded(list(seen.values()), lambda i: (i.kind, i.name))


def identity_items(store: Store) -> list[ExpiryItem]:
    """The key store's identities (their certificates; keys are not read)."""
    query = select(_ID.address, _ID.usage, _ID.fingerprint, _ID.certificate, _ID.not_after).order_by(_ID.id)
    with store.lookup() as conn:
        rows = list(conn.execute(query))
    items = [ExpiryItem("identity", r.address, serial_text(x509.load_der_x509_certificate(r.certificate).serial_number),
                        r.not_after, "key store", r.fingerprint, r.usage) for r in rows]
    return _mark_superseded(items, lambda i: i.name)


def directory_items(store: Store, *, before: datetime | None = None, limit: int | None = None,
                    superseded: bool = True) -> list[ExpiryItem]:
    """Correspondents' certificates ending before ``before`` (all when None), soonest first, at most ``limit``;
    ``superseded=False`` keeps only each address's longest-lasting certificate. The work is done in SQL, so that
    a directory of many thousands of certificates costs one indexed query."""
    latest = (select(_RC.address.label("address"), func.max(_RC.not_after).label("last"))
              .group_by(_RC.address).subquery())
    query = (select(_RC.address, _RC.fingerprint, _RC.certificate, _RC.not_after, latest.c.last)
             .join(latest, latest.c.address == _RC.address))
    if before is not None:
        query = query.where(_RC.not_after <= before)
    if not superseded:
        query = query.where(_RC.not_after == latest.c.last)
    query = query.order_by(_RC.not_after, _RC.address, _RC.id)
    if limit is not None:
        query = query.limit(limit)
    with store.lookup() as conn:
        rows = list(conn.execute(query))
    return [ExpiryItem("directory", r.address, serial_text(x509.load_der_x509_certificate(r.certificate).serial_number),
                       r.not_after, "directory", r.fingerprint, superseded=r.last > r.not_after) for r in rows]


def directory_addresses(store: Store) -> int:
    """How many addresses have a certificate in the directory."""
    with store.lookup() as conn:
        return int(conn.execute(select(func.count(func.distinct(_RC.address)))).scalar_one())


def _order(items: Iterable[ExpiryItem]) -> list[ExpiryItem]:
    return sorted(items, key=lambda i: (i.not_after, KINDS.index(i.kind), i.name, i.serial))


def collect(store: Store | None, *, within: timedelta | None = None, at: datetime | None = None,
            ca_directory: Path | None = None, home: Path | None = None,
            kinds: Sequence[str] = KINDS) -> list[ExpiryItem]:
    """Everything of ``kinds`` that ends within ``within`` of ``at`` (already ended included), or everything when
    ``within`` is None; soonest first, superseded items included (marked). A CRL counts within CRL_MARGIN only."""
    moment = at or datetime.now(UTC)
    horizon = None if within is None else moment + within
    found: list[ExpiryItem] = []
    if {"ca", "crl", "issued"} & set(kinds):
        found += ca_items(ca_directory, store)
    if {"anchor", "intermediate"} & set(kinds):
        found += trust_items(store, home)
    if store is not None:
        if "identity" in kinds:
            found += identity_items(store)
        if "directory" in kinds:
            found += directory_items(store, before=horizon)
    def ends(item: ExpiryItem) -> bool:
        if horizon is None:
            return True
        return item.not_after <= (min(horizon, moment + CRL_MARGIN) if item.kind == "crl" else horizon)

    return _order(i for i in found if i.kind in kinds and ends(i))


def needing_attention(items: Iterable[ExpiryItem]) -> list[ExpiryItem]:
    """The items that count: not superseded."""
    return [i for i in items if not i.superseded]


def for_metrics(store: Store | None, *, per_kind: int, ca_directory: Path | None = None,
                home: Path | None = None) -> tuple[list[ExpiryItem], dict[str, int]]:
    """The ``per_kind`` soonest-ending items of each kind that are not superseded (a bounded set of metric
    labels however large the directory), and how many such items each kind has in all."""
    found = [i for i in ca_items(ca_directory, store) + trust_items(store, home) if not i.superseded]
    totals: dict[str, int] = {kind: 0 for kind in KINDS}
    if store is not None:
        found += [i for i in identity_items(store) if not i.superseded]
        directory = directory_items(store, limit=per_kind, superseded=False)
        totals["directory"] = directory_addresses(store)
        found += directory
    chosen: list[ExpiryItem] = []
    for kind in KINDS:
        of_kind = _order(i for i in found if i.kind == kind)
        if kind != "directory":
            totals[kind] = len(of_kind)
        chosen += of_kind[:per_kind]
    return chosen, totals


__all__ = ["CRL_MARGIN", "KINDS", "ExpiryItem", "ca_items", "collect", "directory_addresses", "directory_items", "for_metrics",
           "identity_items", "needing_attention", "trust_items"]

"""The internal CA's register in the store's database, and the rule choosing where a CA's register lives.

With a store (``$MAILSEAL_DB_URL``, or ``mailseal.db`` in the data directory) the register is the store's
``ca_certificates`` and ``ca_crl_numbers`` tables, keyed by the CA certificate's fingerprint: shared by every node
(an OCSP responder on one node answers for a certificate another revoked), backed up with the store. A register
file (``ca.db``) a CA kept before the store existed is taken over on first use: its rows and its CRL number are
copied in one transaction and the file is renamed ``ca.db.migrated``. Without a store, the file register stays.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..cms.identity import Password, fingerprint
from ..pki.authority import CertificateAuthority
from ..pki.ca_files import DB_FILE, CAError, default_directory
from ..pki.ca_register import CARegister, IssuedRecord
from .database import Store, existing_database_url
from .tables import ca_certificates as _T
from .tables import ca_crl_numbers as _N

MIGRATED_SUFFIX = ".migrated"


def _record(row: Any) -> IssuedRecord:
    return IssuedRecord(int(row.serial, 16), row.email, row.usage, row.key_type, row.not_before, row.not_after,
                        row.revoked_at, row.reason, bytes(row.certificate))


class StoredRegister:
    """The register of the CA whose certificate has fingerprint ``ca`` in ``store``."""

    def __init__(self, store: Store, ca: str) -> None:
        self.store = store
        self.ca = ca
        self.where = "the store database"

    def create(self) -> None:
        """Nothing to create: the tables come with the store's schema."""

    def records(self, email: str | None = None) -> list[IssuedRecord]:
        query = select(_T).where(_T.c.ca == self.ca).order_by(_T.c.not_before, _T.c.id)
        if email is not None:
            query = query.where(func.lower(_T.c.email) == email.strip().lower())
        with self.store.lookup() as conn:
            return [_record(r) for r in conn.execute(query)]

    def find(self, serial: int) -> IssuedRecord | None:
        with self.store.lookup() as conn:
            row = conn.execute(select(_T).where(_T.c.ca == self.ca, _T.c.serial == format(serial, "x"))).first()
        return _record(row) if row is not None else None

    def add(self, record: IssuedRecord) -> None:
        with self.store.session() as session:
            session.execute(insert(_T).values(self._row(record)))

    def _row(self, record: IssuedRecord) -> dict[str, Any]:
        return {"ca": self.ca, "serial": record.serial_hex, "email": record.email, "usage": record.usage,
                "key_type": record.key_type, "not_before": record.not_before, "not_after": record.not_after,
                "revoked_at": record.revoked_at, "reason": record.reason, "certificate": record.der}

    def mark_revoked(self, serial: int, when: datetime, reason: str) -> None:
        with self.store.session() as session:
            session.execute(update(_T).where(_T.c.ca == self.ca, _T.c.serial == format(serial, "x"))
                            .values(revoked_at=when, reason=reason))

    def last_crl_number(self) -> int:
        with self.store.lookup() as conn:
            number = conn.execute(select(_N.c.number).where(_N.c.ca == self.ca)).scalar()
        return int(number or 0)

    def next_crl_number(self) -> int:
        """Take the next number in one statement, so two nodes signing CRLs at once never get the same one."""
        for _ in range(3):
            try:
                with self.store.session() as session:
                    taken = session.execute(update(_N).where(_N.c.ca == self.ca).values(number=_N.c.number + 1)
                                            .returning(_N.c.number)).scalar()
                    if taken is None:
                        session.execute(insert(_N).values(ca=self.ca, number=1))
                        taken = 1
                return int(taken)
            except IntegrityError:  # another node numbered this CA's first CRL at the same moment: take the next
                continue
        raise CAError("could not take the next CRL number: the store kept refusing it")

    def take_over(self, old: CARegister) -> int:
        """Copy every record and the CRL number of a file register, in one transaction, unless this CA already
        has records here (then the file is a stale copy and nothing is copied); the number of records copied."""
        records = old.records()
        number = old.last_crl_number()
        with self.store.session() as session:
            if session.execute(select(func.count()).select_from(_T).where(_T.c.ca == self.ca)).scalar():
                return 0
            if records:
                session.execute(insert(_T), [self._row(r) for r in records])
            if number:
                session.execute(insert(_N).values(ca=self.ca, number=number))
        return len(records)


def _take_over_file(register: StoredRegister, directory: Path) -> None:
    path = directory / DB_FILE
    if not path.exists():
        return
    old = CARegister(path)
    if not old.records() and not old.last_crl_number():
        path.unlink()  # the empty register `ca init` made: nothing to keep
        return
    register.take_over(old)
    path.rename(path.with_name(path.name + MIGRATED_SUFFIX))


@contextmanager
def open_authority(directory: Path | None = None, passphrase: Password | None = None, *,
                   store: Store | None = None) -> Iterator[CertificateAuthority]:
    """The CA in ``directory`` (default: the data directory's), its register in the store when one exists (or
    ``store`` is given; a file register taken over on first use), else its file. A store opened here is closed on
    leaving."""
    ca = CertificateAuthority.load(directory, passphrase)
    url = existing_database_url() if store is None else None
    if store is None and url is None:
        yield ca
        return
    opened = store or Store.open(url)
    try:
        register = StoredRegister(opened, fingerprint(ca.certificate))
        _take_over_file(register, directory or default_directory())
        ca.register = register
        yield ca
    finally:
        if store is None:
            opened.close()


__all__ = ["MIGRATED_SUFFIX", "StoredRegister", "open_authority"]

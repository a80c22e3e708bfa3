"""The internal CA's register of issued certificates: what a register does (``IssuedRegister``), and the file
one, ``ca.db``, a SQLite file in the CA directory, used when there is no store.

With a store, the register lives in the store's database (``mailseal.store.ca_register``: shared by every node,
backed up with the store), and a file register is taken over there on first use. Either keeps one row per
certificate issued (serial, mailbox, usage, key type, validity, revocation, DER) and the last CRL number (RFC 5280
§5.2.3). The file is created mode 0600.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from ..cms.names import serial_text
from ..errors import UsageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    usage TEXT NOT NULL,
    key_type TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    revoked_at TEXT,
    reason TEXT,
    der BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_email ON certificates (email);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = "serial, email, usage, key_type, not_before, not_after, revoked_at, reason, der"


@dataclass(frozen=True)
class IssuedRecord:
    """One certificate the CA issued, as its register keeps it."""

    serial: int
    email: str
    usage: str
    key_type: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None
    der: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")

    def status(self, at: datetime | None = None) -> str:
        """``revoked``, ``expired`` or ``valid`` at ``at``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if (at or datetime.now(UTC)) > self.not_after else "valid"

    def to_dict(self, at: datetime | None = None) -> dict[str, Any]:
        return {
            "serial": serial_text(self.serial),
            "email": self.email,
            "usage": self.usage,
            "key_type": self.key_type,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "status": self.status(at),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
        }


def parse_serial(text: str) -> int:
    """A serial as ``ca list`` prints it (hex), with or without colons or ``0x``."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        return int(cleaned, 16)
    except ValueError:
        raise UsageError(f"{text!r} is not a serial number in hexadecimal") from None


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _record(row: tuple[Any, ...]) -> IssuedRecord:
    serial, email, usage, key_type, nb, na, revoked_at, reason, der = row
    return IssuedRecord(int(serial, 16), email, usage, key_type, datetime.fromisoformat(nb),
                        datetime.fromisoformat(na), _ts(revoked_at), reason, bytes(der))


class IssuedRegister(Protocol):
    """Where a CA records what it issued and revoked, and numbers its CRLs. Every method is one transaction."""

    where: str

    def create(self) -> None: ...

    def records(self, email: str | None = None) -> list[IssuedRecord]: ...

    def find(self, serial: int) -> IssuedRecord | None: ...

    def add(self, record: IssuedRecord) -> None: ...

    def mark_revoked(self, serial: int, when: datetime, reason: str) -> None: ...

    def last_crl_number(self) -> int: ...

    def next_crl_number(self) -> int: ...


class CARegister:
    """The register in the file ``path`` (created on first use); every method is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        with closing(sqlite3.connect(self.path, timeout=10)) as conn:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn

    def create(self) -> None:
        """Create the file and its tables."""
        with self._db():
            pass

    def records(self, email: str | None = None) -> list[IssuedRecord]:
        """Every certificate issued (for ``email`` when given), oldest first."""
        if not self.path.exists():  # nothing issued yet: looking creates nothing
            return []
        with self._db() as db:
            if email is None:
                rows = db.execute(f"SELECT {_COLUMNS} FROM certificates ORDER BY not_before, serial")
            else:
                rows = db.execute(f"SELECT {_COLUMNS} FROM certificates WHERE lower(email) = lower(?) "
                                  "ORDER BY not_before, serial", (email.strip(),))
            return [_record(r) for r in rows.fetchall()]

    def find(self, serial: int) -> IssuedRecord | None:
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM certificates WHERE serial = ?",
                             (format(serial, "x"),)).fetchone()
        return _record(row) if row else None

    def add(self, record: IssuedRecord) -> None:
        """Record a certificate just issued (not revoked)."""
        with self._db() as db:
            db.execute(f"INSERT INTO certificates ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                       (record.serial_hex, record.email, record.usage, record.key_type,
                        record.not_before.isoformat(), record.not_after.isoformat(), record.der))

    def mark_revoked(self, serial: int, when: datetime, reason: str) -> None:
        with self._db() as db:
            db.execute("UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ?",
                       (when.isoformat(), reason, format(serial, "x")))

    def last_crl_number(self) -> int:
        """The number of the last CRL signed, 0 before the first (the file is not created to answer)."""
        if not self.path.exists():
            return 0
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE name = 'crl_number'").fetchone()
        return int(row[0]) if row else 0

    def next_crl_number(self) -> int:
        """Take the next CRL number (RFC 5280 §5.2.3: monotonically increasing), 1 for the first CRL."""
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE name = 'crl_number'").fetchone()
            number = int(row[0]) + 1 if row else 1
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('crl_number', ?)", (str(number),))
        return number


__all__ = ["CARegister", "IssuedRecord", "IssuedRegister", "parse_serial"]

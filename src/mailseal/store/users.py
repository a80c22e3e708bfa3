"""SMTP submission accounts (SMTP AUTH, RFC 4954): scrypt password hashes (RFC 7914) and the addresses each may use."""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import UsageError
from ..pki.profile import normalize_address
from . import audit
from .database import Store
from .models import SubmissionUser, utcnow

#: scrypt cost for account passwords (RFC 7914): N=2^15, r=8, p=1 is 32 MiB and ~0.1 s per login, which the gateway
#: pays on every AUTH; the key store's single unlock can afford more (keystore.DEFAULT_SCRYPT).
DEFAULT_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
#: Shorter passwords are refused: an account that relays signed mail is worth a password that resists guessing.
MIN_PASSWORD_BYTES = 12
MAX_USERNAME_CHARS = 255
_SCHEME = "scrypt"
_SALT_BYTES = 16
_HASH_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=_HASH_BYTES, n=n, r=r, p=p).derive(password)


def hash_password(password: bytes, scrypt: dict[str, int] | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) for ``password`` with a fresh random salt."""
    params = scrypt or DEFAULT_SCRYPT
    n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    salt = os.urandom(_SALT_BYTES)
    return f"{_SCHEME}${n}${r}${p}${_b64(salt)}${_b64(_derive(password, salt, n, r, p))}"


def _parse(encoded: str) -> tuple[bytes, int, int, int, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    return salt, n, r, p, expected


def verify_password(password: bytes, encoded: str) -> bool:
    """Whether ``password`` matches the hash; an unreadable hash never matches."""
    parsed = _parse(encoded)
    if parsed is None:
        return False
    salt, n, r, p, expected = parsed
    try:
        derived = _derive(password, salt, n, r, p)
    except ValueError:  # parameters scrypt refuses (a damaged row)
        return False
    return hmac.compare_digest(derived, expected)


def _check_password(password: bytes) -> None:
    if not isinstance(password, bytes):
        raise TypeError("the password must be bytes")
    if not password:
        raise UsageError("the password is empty")
    if len(password) < MIN_PASSWORD_BYTES:
        raise UsageError(f"the password is too short: at least {MIN_PASSWORD_BYTES} bytes")


def _check_username(username: str) -> None:
    if not isinstance(username, str):
        raise TypeError("the user name must be a str")
    if not username:
        raise UsageError("the user name is empty")
    if len(username) > MAX_USERNAME_CHARS:
        raise UsageError(f"the user name is longer than {MAX_USERNAME_CHARS} characters")
    # SASL PLAIN (RFC 4616) separates its fields with NUL, and a space or control character in a name is a typo
    # waiting to lock someone out; printable, space-free names only.
    if any(c.isspace() or not c.isprintable() for c in username):
        raise UsageError("the user name must not contain spaces or control characters")


def _normalized(addresses: Iterable[str]) -> list[str]:
    if isinstance(addresses, str):
        raise TypeError("addresses must be a list of addresses, not one string")
    result: list[str] = []
    for raw in addresses:
        addr = normalize_address(raw)
        local, at, domain = addr.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in addr):
            raise UsageError(f"{raw!r} is not an e-mail address")
        result.append(addr)
    if not result:
        raise UsageError("a submission account needs at least one address")
    return list(dict.fromkeys(result))


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class UserRecord:
    """A submission account as listed: everything but the password hash."""

    id: int
    username: str
    addresses: tuple[str, ...]
    disabled: bool
    created: datetime
    last_login: datetime | None

    def may_use(self, address: str) -> bool:
        """Whether the account may send as ``address`` (RFC 8550 §3: exact local part, any-case domain)."""
        return normalize_address(address) in self.addresses

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "addresses": list(self.addresses),
                "disabled": self.disabled, "created": _iso(self.created), "last_login": _iso(self.last_login)}


def _record(row: SubmissionUser) -> UserRecord:
    return UserRecord(row.id, row.username, tuple(row.addresses), row.disabled, row.created, row.last_login)


class Users:
    """Submission accounts in a store. ``scrypt`` sets the cost of new hashes (tests pass cheap parameters); a hash
    keeps its own parameters, so changing the cost never locks anyone out."""

    def __init__(self, store: Store, scrypt: dict[str, int] | None = None) -> None:
        self.store = store
        self._scrypt = dict(scrypt or DEFAULT_SCRYPT)
        # Unknown and disabled accounts are checked against this, at the same cost, so that the time an AUTH takes
        # does not tell which user names exist. Nothing derives to it: the chance of a match is 2^-256.
        n, r, p = self._scrypt["n"], self._scrypt["r"], self._scrypt["p"]
        self._dummy = f"{_SCHEME}${n}${r}${p}${_b64(os.urandom(_SALT_BYTES))}${_b64(os.urandom(_HASH_BYTES))}"

    def _row(self, session: Session, username: str) -> SubmissionUser:
        row = session.scalars(select(SubmissionUser).where(SubmissionUser.username == username)).first()
        if row is None:
            raise UsageError(f"no submission account {username!r}")
        return row

    def add(self, username: str, password: bytes, addresses: Iterable[str], actor: str | None = None) -> UserRecord:
        """Create an account that may send as ``addresses`` (normalised); a taken user name is a ``UsageError``."""
        _check_username(username)
        _check_password(password)
        addrs = _normalized(addresses)
        encoded = hash_password(password, self._scrypt)
        try:
            with self.store.session() as session:
                row = SubmissionUser(username=username, password_hash=encoded, addresses=addrs, disabled=False,
                                     created=utcnow(), last_login=None)
                session.add(row)
                session.flush()
                audit.record(session, "users.add", username, {"id": row.id, "addresses": addrs}, actor)
        except IntegrityError:
            raise UsageError(f"the submission account {username!r} already exists") from None
        return _record(row)

    def set_password(self, username: str, password: bytes, actor: str | None = None) -> None:
        _check_password(password)
        encoded = hash_password(password, self._scrypt)
        with self.store.session() as session:
            self._row(session, username).password_hash = encoded
            audit.record(session, "users.password", username, {}, actor)

    def set_addresses(self, username: str, addresses: Iterable[str], actor: str | None = None) -> UserRecord:
        """Replace the account's addresses."""
        addrs = _normalized(addresses)
        with self.store.session() as session:
            row = self._row(session, username)
            previous = list(row.addresses)
            row.addresses = addrs
            audit.record(session, "users.addresses", username, {"addresses": addrs, "previous": previous}, actor)
            return _record(row)

    def disable(self, username: str, disabled: bool = True, actor: str | None = None) -> UserRecord:
        """Disable (or with ``disabled=False`` enable again) an account: a disabled account cannot authenticate."""
        with self.store.session() as session:
            row = self._row(session, username)
            row.disabled = disabled
            audit.record(session, "users.disable", username, {"disabled": disabled}, actor)
            return _record(row)

    def remove(self, username: str, actor: str | None = None) -> None:
        with self.store.session() as session:
            row = self._row(session, username)
            audit.record(session, "users.remove", username, {"id": row.id, "addresses": list(row.addresses)}, actor)
            session.delete(row)

    def list(self) -> list[UserRecord]:
        with self.store.reading() as session:
            return [_record(r) for r in session.scalars(select(SubmissionUser).order_by(SubmissionUser.username))]

    def get(self, username: str) -> UserRecord | None:
        with self.store.reading() as session:
            row = session.scalars(select(SubmissionUser).where(SubmissionUser.username == username)).first()
            return None if row is None else _record(row)

    def authenticate(self, username: str, password: bytes) -> UserRecord | None:
        """The account when ``password`` is right and the account is enabled, else None (never which of them failed).

        Runs one scrypt whether or not the account exists (CPU-heavy: call it off the event loop). A success
        records ``last_login``; it is not audited (the audit log is for changes, the gateway logs logins)."""
        if not isinstance(password, bytes):
            raise TypeError("the password must be bytes")
        with self.store.reading() as session:
            row = session.scalars(select(SubmissionUser).where(SubmissionUser.username == username)).first()
            found = None if row is None else (row.id, row.password_hash, row.disabled)
        if found is None or found[2]:
            verify_password(password, self._dummy)
            return None
        if not verify_password(password, found[1]):
            return None
        now = utcnow()
        with self.store.session() as session:
            enabled = SubmissionUser.disabled.is_(False)
            session.execute(update(SubmissionUser).where(SubmissionUser.id == found[0], enabled)
                            .values(last_login=now))
            row = session.get(SubmissionUser, found[0])
            # Removed or disabled between the check and now: the answer is no.
            return None if row is None or row.disabled else _record(row)


__all__ = ["DEFAULT_SCRYPT", "MIN_PASSWORD_BYTES", "UserRecord", "Users", "hash_password", "verify_password"]

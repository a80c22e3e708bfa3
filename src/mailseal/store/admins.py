"""Console accounts (docs/web.md): argon2id password hashes (RFC 9106), roles, a TOTP second factor (RFC 6238)
sealed at rest, and the failed-login lock-out (OWASP ASVS 6.3.1), all in the shared store so that every node agrees.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import UsageError
from . import audit, totp
from .database import Store
from .tables import api_tokens, console_admins, utcnow, web_sessions, webauthn_credentials

ROLES = ("admin", "auditor")
MIN_PASSWORD_CHARS = 12
MAX_NAME_CHARS = 64
#: An account name: ASCII letters, digits and ``._@-`` (no look-alike letters from other scripts).
NAME_PATTERN = rf"^[A-Za-z0-9._@-]{{1,{MAX_NAME_CHARS}}}$"
#: Failures in a row that lock an account, and for how long (ASVS 6.3.1: limit guessing, per account).
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
_C = console_admins.c


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def check_name(name: str) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"{name!r} is not an account name: 1-{MAX_NAME_CHARS} letters, digits, '.', '_', '-', '@'")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsageError(f"the password is too short: at least {MIN_PASSWORD_CHARS} characters")


def generate_password() -> str:
    """A random password of 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class Admin:
    """A console account as listed: everything but the password hash and the TOTP secret."""

    name: str
    role: str
    totp_enrolled: bool
    failed_logins: int
    locked_until: datetime | None
    created: datetime
    last_login: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "totp_enrolled": self.totp_enrolled,
                "failed_logins": self.failed_logins, "locked_until": _iso(self.locked_until),
                "created": _iso(self.created), "last_login": _iso(self.last_login)}


def _admin(row: Any) -> Admin:
    return Admin(row.name, row.role, bool(row.totp_confirmed), row.failed_logins, row.locked_until, row.created,
                 row.last_login)


class Admins:
    """Console accounts in ``store``. ``totp_key`` (32 bytes) seals the TOTP secrets; only the console needs it
    (the command line adds accounts and resets their second factor without reading one)."""

    def __init__(self, store: Store, *, hasher: PasswordHasher | None = None, totp_key: bytes | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()  # argon2id, RFC 9106's second recommended parameters
        self._totp_key = totp_key
        # Unknown accounts are checked against this at the same cost: the time a login takes tells no names.
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    def _row(self, conn: Any, name: str) -> Any:
        row = conn.execute(select(console_admins).where(_C.name == name)).first()
        if row is None:
            raise UsageError(f"no console account {name!r}")
        return row

    def add(self, name: str, password: str, role: str = "admin", actor: str | None = None) -> Admin:
        check_name(name)
        check_password(password)
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}: choose {' or '.join(ROLES)}")
        try:
            with self.store.session() as session:
                session.execute(insert(console_admins).values(
                    name=name, password_hash=self.hasher.hash(password), role=role, totp_confirmed=False,
                    failed_logins=0, created=utcnow()))
                audit.record(session, "admins.add", name, {"role": role}, actor)
        except IntegrityError:
            raise UsageError(f"the console account {name!r} already exists") from None
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> Admin | None:
        with self.store.lookup() as conn:
            row = conn.execute(select(console_admins).where(_C.name == name)).first()
        return None if row is None else _admin(row)

    def list(self) -> list[Admin]:
        with self.store.lookup() as conn:
            return [_admin(r) for r in conn.execute(select(console_admins).order_by(_C.name))]

    def remove(self, name: str, actor: str | None = None) -> None:
        """Delete the account, its sessions, its API tokens and its security keys."""
        with self.store.session() as session:
            row = self._row(session, name)
            session.execute(delete(web_sessions).where(web_sessions.c.account == name))
            session.execute(delete(api_tokens).where(api_tokens.c.account == name))
            session.execute(delete(webauthn_credentials).where(webauthn_credentials.c.account == name))
            session.execute(delete(console_admins).where(_C.id == row.id))
            audit.record(session, "admins.remove", name, {"role": row.role}, actor)

    def set_password(self, name: str, password: str, actor: str | None = None) -> None:
        """A new password; the lock-out is lifted and every session of the account ends."""
        check_password(password)
        encoded = self.hasher.hash(password)
        with self.store.session() as session:
            self._row(session, name)
            session.execute(update(console_admins).where(_C.name == name)
                            .values(password_hash=encoded, failed_logins=0, locked_until=None))
            session.execute(delete(web_sessions).where(web_sessions.c.account == name))
            audit.record(session, "admins.password", name, {}, actor)

    def verify_password(self, name: str, password: str, now: datetime | None = None) -> Admin | None:
        """The account when the password is right and the account not locked, else None (never which of them).

        One argon2 verification runs whatever the case (CPU-heavy: call it off the event loop). A failure counts
        toward the lock-out; a locked account fails even with the right password."""
        moment = now or utcnow()
        with self.store.lookup() as conn:
            row = conn.execute(select(console_admins).where(_C.name == name)).first()
        if row is None:
            self._verify(self._dummy, password)
            return None
        locked = row.locked_until is not None and row.locked_until > moment
        if not self._verify(row.password_hash, password) or locked:
            if not locked:
                self.record_failure(name, moment)
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.store.session() as session:
                session.execute(update(console_admins).where(_C.id == row.id)
                                .values(password_hash=self.hasher.hash(password)))
        return _admin(row)

    def _verify(self, encoded: str, password: str) -> bool:
        try:
            return self.hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def record_failure(self, name: str, now: datetime | None = None) -> None:
        """One more failed attempt (password or second factor); the MAX_FAILURES-th locks the account for LOCKOUT."""
        moment = now or utcnow()
        with self.store.session() as session:
            row = session.execute(select(console_admins).where(_C.name == name)).first()
            if row is None:
                return
            failures = row.failed_logins + 1
            values: dict[str, Any] = {"failed_logins": failures}
            if failures >= MAX_FAILURES:
                values = {"failed_logins": 0, "locked_until": moment + LOCKOUT}
                audit.record(session, "admins.locked", name, {"until": _iso(moment + LOCKOUT)}, "console")
            session.execute(update(console_admins).where(_C.id == row.id).values(**values))

    def record_login(self, name: str, now: datetime | None = None) -> None:
        """A complete login (both factors): the counter starts again, the time is kept."""
        with self.store.session() as session:
            session.execute(update(console_admins).where(_C.name == name)
                            .values(failed_logins=0, locked_until=None, last_login=now or utcnow()))

    # The second factor (RFC 6238 TOTP). The secret is sealed with AES-256-GCM under the console key, bound to the
    # account name, so that a copy of the database gives no one the codes.

    def _key(self) -> bytes:
        if self._totp_key is None:
            raise UsageError("the console key is needed to read or write a second factor")
        return self._totp_key

    def _seal(self, name: str, secret: str) -> bytes:
        return totp.seal_secret(self._key(), name, secret)

    def totp_secret(self, name: str) -> str | None:
        """The account's TOTP secret (base32), enrolled or pending; None when there is none."""
        with self.store.lookup() as conn:
            row = self._row(conn, name)
        if row.totp_sealed is None:
            return None
        secret = totp.open_secret(self._key(), name, bytes(row.totp_sealed))
        if secret is None:
            raise UsageError("the second factor was sealed with another console key: reset it with "
                             f"`mailseal admins totp-reset {name}`")
        return secret

    def begin_totp(self, name: str) -> str:
        """A new pending TOTP secret for an account without a confirmed one (kept until confirmed)."""
        secret = totp.new_secret()
        with self.store.session() as session:
            session.execute(update(console_admins).where(_C.name == name, _C.totp_confirmed.is_(False))
                            .values(totp_sealed=self._seal(name, secret), totp_last_step=None))
        return secret

    def check_totp(self, name: str, code: str, now: datetime | None = None) -> bool:
        """Whether ``code`` is the account's current TOTP code (one step either side for clock drift), never
        accepting the same step twice (RFC 6238 §5.2). The first right code confirms a pending enrolment."""
        secret = self.totp_secret(name)
        matched = None if secret is None else totp.matching_step(secret, code, now or utcnow())
        if matched is None:
            return False
        with self.store.session() as session:
            row = self._row(session, name)
            if row.totp_last_step is not None and matched <= row.totp_last_step:
                return False
            session.execute(update(console_admins).where(_C.id == row.id)
                            .values(totp_last_step=matched, totp_confirmed=True))
            if not row.totp_confirmed:
                audit.record(session, "admins.totp-enrol", name, {}, name)
        return True

    def reset_totp(self, name: str, actor: str | None = None) -> None:
        """Forget the second factor: the next login enrols a new one."""
        with self.store.session() as session:
            self._row(session, name)
            session.execute(update(console_admins).where(_C.name == name)
                            .values(totp_sealed=None, totp_confirmed=False, totp_last_step=None))
            session.execute(delete(web_sessions).where(web_sessions.c.account == name))
            audit.record(session, "admins.totp-reset", name, {}, actor)


__all__ = ["LOCKOUT", "MAX_FAILURES", "MIN_PASSWORD_CHARS", "NAME_PATTERN", "ROLES", "Admin", "Admins", "check_name",
           "check_password", "generate_password"]

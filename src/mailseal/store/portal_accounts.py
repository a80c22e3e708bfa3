"""Portal accounts (docs/portal.md, "Recipient accounts"): recipients who read with a password (argon2id, RFC 9106)
and a TOTP code (RFC 6238) instead of a mailed code, as CipherMail's webmail does for frequent correspondents.

The first visit proves the mailbox with a mailed code, then enrols: a password and a TOTP secret (sealed by
``store.totp`` under a key derived from the portal key, as the console seals its own). Later visits: password and
code, no mail. A code's 30-second step is accepted once; ``MAX_FAILURES`` failures in a row lock the account for
``LOCKOUT`` (the console's rule). Unknown and not-enrolled addresses cost the same argon2 verification and get the
same result as a wrong password. Everything is audited; the secrets never are.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, insert, select, update

from ..errors import PortalError, UsageError
from . import audit, totp
from .admins import LOCKOUT, MAX_FAILURES, check_password
from .database import Store
from .portal_key import derived_key
from .tables import portal_accounts, portal_sessions, utcnow

_A = portal_accounts.c
ACTOR = "portal"
#: The issuer an authenticator app shows beside the account.
ISSUER = "mailseal portal"


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


class SignIn(StrEnum):
    """What a sign-in gave. Only ``OK`` opens a session; the page shows one sentence for all the others."""

    OK = "ok"
    WRONG = "wrong"  # a wrong password or code (counted)
    REPLAYED = "replayed"  # the right password and a code of a step already used (counted)
    LOCKED = "locked"  # too many failures: wait
    NONE = "none"  # no enrolled account for the address


@dataclass(frozen=True)
class PortalAccount:
    """An account as the administrator sees it (never the hash or the secret)."""

    address: str
    enrolled: bool
    created: datetime
    last_sign_in: datetime | None
    failed: int
    locked_until: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "enrolled": self.enrolled, "created": _iso(self.created),
                "last_sign_in": _iso(self.last_sign_in), "failed": self.failed,
                "locked_until": _iso(self.locked_until)}


def _account(row: Any) -> PortalAccount:
    return PortalAccount(row.address, row.password_hash is not None and bool(row.totp_confirmed), row.created,
                         row.last_sign_in, row.failed, row.locked_until)


class PortalAccounts:
    """The portal accounts in ``store``; ``key`` is the portal key (the TOTP secrets' key is derived from it).
    Without a key only the administration works (list, reset, remove)."""

    def __init__(self, store: Store, key: bytes | None, *, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self._totp_key = derived_key(key, "totp") if key is not None else None
        self.hasher = hasher or PasswordHasher()
        self._dummy = ""

    def _key(self) -> bytes:
        if self._totp_key is None:
            raise UsageError("the portal key is needed to read or write a portal account's second factor")
        return self._totp_key

    def _row(self, conn: Any, address: str) -> Any:
        return conn.execute(select(portal_accounts).where(_A.address == address.strip().lower())).first()

    def get(self, address: str) -> PortalAccount | None:
        with self.store.lookup() as conn:
            row = self._row(conn, address)
        return None if row is None else _account(row)

    def list(self) -> list[PortalAccount]:
        with self.store.lookup() as conn:
            return [_account(r) for r in conn.execute(select(portal_accounts).order_by(_A.address))]

    # Enrolment (after a mailed code proved the mailbox).

    def begin_enrolment(self, address: str, now: datetime | None = None) -> str:
        """The TOTP secret to show for enrolling ``address`` (kept sealed, pending, until ``enrol``); the same one
        while the enrolment is pending. An enrolled account is a ``PortalError`` (an administrator resets it)."""
        address = address.strip().lower()
        moment = now or utcnow()
        with self.store.session() as session:
            row = self._row(session, address)
            if row is not None and _account(row).enrolled:
                raise PortalError(f"the portal account {address} is enrolled already")
            if row is not None and row.totp_sealed is not None:
                pending = totp.open_secret(self._key(), address, bytes(row.totp_sealed))
                if pending is not None:
                    return pending
            secret = totp.new_secret()
            sealed = totp.seal_secret(self._key(), address, secret)
            if row is None:
                session.execute(insert(portal_accounts).values(
                    address=address, totp_sealed=sealed, totp_confirmed=False, failed=0, created=moment))
            else:
                session.execute(update(portal_accounts).where(_A.id == row.id).values(
                    password_hash=None, totp_sealed=sealed, totp_confirmed=False, totp_last_step=None))
        return secret

    def enrol(self, address: str, password: str, code: str, now: datetime | None = None, *,
              actor: str | None = None) -> bool:
        """Finish the enrolment: ``password`` (the console's rules: ``admins.check_password``; a ``UsageError``
        names what is wrong) and ``code`` from the authenticator holding the pending secret. False when the code
        is not right (nothing is changed)."""
        check_password(password)
        address = address.strip().lower()
        moment = now or utcnow()
        with self.store.session() as session:
            row = self._row(session, address)
            if row is None or row.totp_sealed is None or _account(row).enrolled:
                return False
            secret = totp.open_secret(self._key(), address, bytes(row.totp_sealed))
            step = None if secret is None else totp.matching_step(secret, code.strip(), moment)
            if step is None:
                return False
            session.execute(update(portal_accounts).where(_A.id == row.id).values(
                password_hash=self.hasher.hash(password), totp_confirmed=True, totp_last_step=step, failed=0,
                locked_until=None, last_sign_in=moment))
            audit.record(session, "portal.account-enrol", address, {}, actor or ACTOR)
        return True

    # Signing in.

    def _verify(self, encoded: str | None, password: str) -> bool:
        if not self._dummy:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        try:
            return bool(self.hasher.verify(encoded or self._dummy, password)) and encoded is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def sign_in(self, address: str, password: str, code: str, now: datetime | None = None, *,
                actor: str | None = None) -> SignIn:
        """Check ``password`` and the TOTP ``code`` of ``address``. One argon2 verification runs whatever the case
        (CPU-heavy: call it off the event loop); failures count toward the lock-out; audited."""
        address = address.strip().lower()
        moment = now or utcnow()
        with self.store.lookup() as conn:
            row = self._row(conn, address)
        enrolled = row is not None and _account(row).enrolled
        right = self._verify(row.password_hash if enrolled else None, password)
        if row is None or not enrolled:
            return SignIn.NONE
        secret = totp.open_secret(self._key(), address, bytes(row.totp_sealed)) if row.totp_sealed else None
        step = None if secret is None else totp.matching_step(secret, code.strip(), moment)
        locked = row.locked_until is not None and row.locked_until > moment
        with self.store.session() as session:
            current = self._row(session, address)  # read again in the transaction: the last step may have moved
            if locked:
                result = SignIn.LOCKED
            elif right and step is not None and (current.totp_last_step is None or step > current.totp_last_step):
                result = SignIn.OK
            elif right and step is not None:
                result = SignIn.REPLAYED
            else:
                result = SignIn.WRONG
            values: dict[str, Any]
            if result is SignIn.OK:
                values = {"totp_last_step": step, "failed": 0, "locked_until": None, "last_sign_in": moment}
                if self.hasher.check_needs_rehash(current.password_hash):
                    values["password_hash"] = self.hasher.hash(password)
            elif result is SignIn.LOCKED:
                values = {}
            else:
                failed = current.failed + 1
                values = {"failed": failed}
                if failed >= MAX_FAILURES:
                    values = {"failed": 0, "locked_until": moment + LOCKOUT}
                    audit.record(session, "portal.account-locked", address, {"until": _iso(moment + LOCKOUT)},
                                 actor or ACTOR)
            if values:
                session.execute(update(portal_accounts).where(_A.id == current.id).values(**values))
            audit.record(session, "portal.account-sign-in", address, {"result": str(result)}, actor or ACTOR)
        return result

    # Administration.

    def reset(self, address: str, *, actor: str | None = None) -> None:
        """Forget the password and the second factor (the next visit proves the mailbox and enrols again) and end
        the address's portal sessions."""
        address = address.strip().lower()
        with self.store.session() as session:
            done = session.connection().execute(update(portal_accounts).where(_A.address == address).values(
                password_hash=None, totp_sealed=None, totp_confirmed=False, totp_last_step=None, failed=0,
                locked_until=None)).rowcount
            if not done:
                raise PortalError(f"no portal account {address}")
            session.execute(delete(portal_sessions).where(portal_sessions.c.address == address))
            audit.record(session, "portal.account-reset", address, {}, actor)

    def remove(self, address: str, *, actor: str | None = None) -> None:
        """Remove the account and end the address's portal sessions."""
        address = address.strip().lower()
        with self.store.session() as session:
            done = session.connection().execute(delete(portal_accounts).where(_A.address == address)).rowcount
            if not done:
                raise PortalError(f"no portal account {address}")
            session.execute(delete(portal_sessions).where(portal_sessions.c.address == address))
            audit.record(session, "portal.account-remove", address, {}, actor)

    def provisioning_uri(self, address: str, secret: str) -> str:
        return totp.provisioning_uri(secret, address, ISSUER)


__all__ = ["ISSUER", "PortalAccount", "PortalAccounts", "SignIn"]

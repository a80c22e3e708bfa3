"""The recipient portal's store (docs/portal.md): messages sealed at rest, link tokens, one-time passcodes, portal
sessions, rate-limit counters, replies, the outbox, and the administrator's revoke / extend / list / show / purge.

Everything lives in the shared store, so any node serves any link (PostgreSQL for several nodes). Time is a
parameter (``now``) everywhere so that tests set the clock. Secrets are kept as hashes (link tokens, session ids)
or HMACs under a key derived from the portal key (passcodes); contents are sealed (``portal_key.seal``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import PortalError, TemporaryError, UsageError
from . import audit
from .database import Store
from .portal_key import Sealed, derived_key, seal, unseal
from .portal_records import (
    Deposit,
    OutboxItem,
    Passcode,
    PasscodeResult,
    PortalAccess,
    PortalLink,
    PortalMessage,
    PortalRecipient,
    PortalReply,
    PortalSession,
    PortalState,
    PurgeResult,
)
from .ratelimit import RateLimits, RateResult
from .tables import (
    audit_log,
    portal_messages,
    portal_outbox,
    portal_passcodes,
    portal_recipients,
    portal_replies,
    portal_sessions,
    rate_limits,
    utcnow,
)

_M = portal_messages.c
_R = portal_recipients.c
_P = portal_passcodes.c
_S = portal_sessions.c
_L = rate_limits.c
_Y = portal_replies.c
_O = portal_outbox.c

#: Expiry in days a message may be given (Office 365 Message Encryption allows the same range); 0: never expires.
MAX_EXPIRY_DAYS = 730
PASSCODE_LIFETIME = timedelta(minutes=10)  # OWASP ASVS 6.5.5 (OME's 15 minutes are longer than that)
PASSCODE_MAX_TRIES = 5
PASSCODE_DIGITS = 8
#: The reference code's letters: no 0/O, 1/I/L that a reader could confuse.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 6
#: A generated portal password: 4 groups of 5 letters of ``REFERENCE_ALPHABET`` (31 letters: 20 * log2(31), about
#: 99 bits), easy to read out over the phone.
PASSWORD_GROUPS = 4
PASSWORD_GROUP_LENGTH = 5
#: The shortest password a sender may choose (``X-Mailseal-Portal-Password``, ``mailseal portal password --stdin``).
MIN_PASSWORD_CHARS = 12
IDLE = timedelta(minutes=15)
ABSOLUTE = timedelta(hours=8)
OUTBOX_LEASE = timedelta(minutes=2)
OUTBOX_MAX_ATTEMPTS = 10
#: Sent and failed outbox rows are kept this long after their last change, for the record (content destroyed).
OUTBOX_KEEP = timedelta(days=7)
PROOFS = ("passcode", "password", "account")
#: What opens a portal session: a mailed code (it proves the mailbox) or an account (password + TOTP).
SESSION_PROOFS = ("passcode", "account")
OUTBOX_KINDS = ("notification", "passcode", "reply", "receipt", "password")
_TOKEN_MAX = 128  # a link token is 43 characters; anything much longer is not one
ACTOR = "portal"
#: A second deposit of the same message (same received bytes, envelope sender and portal recipients) within this
#: time of the first, while the first is active, is a retried SMTP transaction: the first deposit is returned.
RETRY_WINDOW = timedelta(days=7)
#: How long the node that deposits (or re-deposits) a message holds its recipients' notifications: while it does,
#: another node's retry of the same transaction is told to try again (4xx) instead of sending a second link; a
#: crashed node's lease lapses. Longer than any delivery of a notification takes (the relay's own timeouts).
NOTIFY_LEASE = timedelta(minutes=10)
#: The lease holder of deposits made without one (administrative and library callers: one holder).
LOCAL_HOLDER = "local"


def deposit_digest(received: str, sender: str, recipients: Collection[str]) -> str:
    """The key of a deposit: SHA-256 over the received message's SHA-256 (hex), the envelope sender and the
    portal recipients (lower case, sorted, once each)."""
    addresses = sorted({a.strip().lower() for a in recipients})
    data = "\0".join([received.lower(), sender.strip().lower(), *addresses])
    return hashlib.sha256(data.encode()).hexdigest()


def new_password() -> str:
    """A strong random portal password in readable groups, e.g. ``K7QMZ-2HXTP-W9RDA-5NBEF``."""
    return "-".join("".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(PASSWORD_GROUP_LENGTH))
                    for _ in range(PASSWORD_GROUPS))


def check_chosen_password(password: str) -> None:
    """A password a sender chose: at least ``MIN_PASSWORD_CHARS`` characters (a ``UsageError`` otherwise)."""
    if len(password.strip()) < MIN_PASSWORD_CHARS:
        raise UsageError(f"a portal password has at least {MIN_PASSWORD_CHARS} characters")


def token_hash(raw: str) -> str:
    """The SHA-256 (hex) kept for a link token or a session id."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _state(row: Any, now: datetime) -> PortalState:
    if row.state == "active" and row.expires is not None and row.expires <= now:
        return PortalState.EXPIRED
    return PortalState(row.state)


def _sealed(row: Any) -> Sealed | None:
    if row.ciphertext is None or row.wrapped_key is None or row.nonce is None:
        return None
    return Sealed(bytes(row.wrapped_key), bytes(row.nonce), bytes(row.ciphertext))


def _check_days(days: int, where: str) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_EXPIRY_DAYS:
        raise UsageError(f"{where} must be a whole number of days from 0 to {MAX_EXPIRY_DAYS}, not {days!r}")


class PortalStore:
    """The portal's tables in ``store``; ``key`` is the portal key (``portal_key.portal_key()``). Without a key
    (None) only the administration works (list, show, revoke, extend, purge, outbox counts): nothing is sealed or
    opened, and what would need the key is a ``UsageError``."""

    def __init__(self, store: Store, key: bytes | None, *, idle: timedelta = IDLE,
                 absolute: timedelta = ABSOLUTE, hasher: PasswordHasher | None = None) -> None:
        if key is not None and len(key) != 32:
            raise ValueError("the portal key is 32 bytes")
        self.store = store
        self._key = key
        self._code_key = derived_key(key, "passcode") if key is not None else b""
        self.idle = idle
        self.absolute = absolute
        self.hasher = hasher or PasswordHasher()  # argon2id (RFC 9106), for proof = "password"
        self._dummy = ""

    @property
    def _kek(self) -> bytes:
        if self._key is None:
            raise UsageError("the portal key is needed to seal or open portal messages")
        return self._key

    # Depositing and reading.

    def deposit(self, message: bytes, sender: str, recipients: Sequence[str], *, brand: str,
                bcc: Collection[str] = (), expiry_days: int = 14, proof: str = "passcode",
                password_hash: str | None = None, read_receipt: bool = False, now: datetime | None = None,
                actor: str | None = None, digest: str | None = None,
                password_notice: Callable[[str], bytes] | None = None, holder: str = LOCAL_HOLDER) -> Deposit:
        """Seal ``message`` and record it with a fresh link token per recipient (``bcc``: the recipients that were
        Bcc); returns the id and the clear tokens, which are not kept. ``expiry_days`` 0: never expires.

        ``digest`` (``deposit_digest``): a deposit with the same digest made less than ``RETRY_WINDOW`` ago and
        still active is returned instead (``existing``), with new tokens only for the recipients not yet
        ``notified``; the digest is unique, so of two nodes depositing it at once one creates and the other
        returns that deposit. ``holder`` (the depositing node) holds the recipients' notifications for
        ``NOTIFY_LEASE`` (until ``mark_notified``): a retry by another holder meanwhile is a ``TemporaryError``.

        ``password_notice``: for proof = "password", the notice to the sender given the message id (the password
        mailed to the sender, never to a recipient); it is queued in the outbox in the deposit's own transaction,
        so the message is never kept without its notice on the way (a retried transaction queues none again)."""
        _check_days(expiry_days, "the expiry")
        if proof not in PROOFS:
            raise UsageError(f"the proof must be one of {', '.join(PROOFS)}, not {proof!r}")
        if proof == "password" and not password_hash:
            raise UsageError("a message read with a password needs the password's hash")
        addresses = list(dict.fromkeys(a.strip().lower() for a in recipients))
        if not addresses or any(not a or "@" not in a for a in addresses):
            raise UsageError("a portal message needs at least one recipient address")
        hidden = {a.strip().lower() for a in bcc}
        moment = now or utcnow()
        if digest is not None:
            found = self._redeposit(digest, moment, actor, holder)
            if found is not None:
                return found
        expires = moment + timedelta(days=expiry_days) if expiry_days else None
        message_id = secrets.token_hex(16)
        sealed = seal(self._kek, message, b"portal message " + message_id.encode())
        tokens = {a: secrets.token_urlsafe(32) for a in addresses}
        try:
            with self.store.session() as session:
                session.execute(insert(portal_messages).values(
                    id=message_id, sender=sender.strip().lower(), brand=brand.lower(), created=moment,
                    expires=expires, state="active", proof=proof, password_hash=password_hash,
                    read_receipt=read_receipt, size=len(message), wrapped_key=sealed.wrapped_key, nonce=sealed.nonce,
                    ciphertext=sealed.ciphertext, digest=digest))
                session.execute(insert(portal_recipients), [
                    {"message_id": message_id, "address": a, "token_hash": token_hash(t), "bcc": a in hidden,
                     "reads": 0, "notifying_by": holder[:64], "notifying_until": moment + NOTIFY_LEASE}
                    for a, t in tokens.items()])
                if password_notice is not None:
                    self._queue(session, "password", "", [sender.strip().lower()], password_notice(message_id),
                                moment, message_id)
                audit.record(session, "portal.deposit", message_id,
                             {"from": sender, "to": addresses, "brand": brand,
                              "expires": expires and expires.isoformat(), "size": len(message)}, actor)
        except IntegrityError:
            if digest is None:
                raise
            # another node deposited the same message a moment ago: that deposit is this one
            found = self._redeposit(digest, moment, actor, holder)
            if found is None:
                raise TemporaryError("the same portal message was being deposited by another node") from None
            return found
        return Deposit(message_id, tokens, expires, proof=proof)

    def _redeposit(self, digest: str, moment: datetime, actor: str | None, holder: str) -> Deposit | None:
        """The deposit with ``digest`` when a retry may reuse it (new tokens for the recipients not notified,
        leased to ``holder``); else None, and a deposit past the window or no longer active gives up its digest.
        A recipient whose notification another holder is sending (its lease still running) makes the retry a
        ``TemporaryError``: answered 4xx, it comes back when that node has finished or its lease has lapsed."""
        with self.store.session() as session:
            row = session.execute(select(_M.id, _M.state, _M.expires, _M.created, _M.proof).where(_M.digest == digest)
                                  .with_for_update()).first()
            if row is None:
                return None
            if _state(row, moment) is not PortalState.ACTIVE or row.created <= moment - RETRY_WINDOW:
                session.execute(update(portal_messages).where(_M.id == row.id).values(digest=None))
                return None
            pending = session.execute(select(_R.id, _R.address, _R.notifying_by, _R.notifying_until).where(
                _R.message_id == row.id, _R.notified.is_(None)).with_for_update()).all()
            busy = [r.address for r in pending if r.notifying_by not in (None, holder[:64])
                    and r.notifying_until is not None and r.notifying_until > moment]
            if busy:
                raise TemporaryError(f"the portal notification of {', '.join(busy)} is being sent by another node: "
                                     "try again shortly")
            tokens: dict[str, str] = {}
            for rcpt in pending:
                tokens[rcpt.address] = secrets.token_urlsafe(32)
                session.execute(update(portal_recipients).where(_R.id == rcpt.id).values(
                    token_hash=token_hash(tokens[rcpt.address]), notifying_by=holder[:64],
                    notifying_until=moment + NOTIFY_LEASE))
            audit.record(session, "portal.redeposit", row.id, {"renotify": sorted(tokens)}, actor)
        return Deposit(row.id, tokens, row.expires, existing=True, proof=row.proof)

    def mark_notified(self, message_id: str, addresses: Collection[str], now: datetime | None = None) -> int:
        """Record that the next hop accepted the notification of ``addresses`` (a retry does not send them
        another); how many were not recorded before."""
        moment = now or utcnow()
        wanted = [a.strip().lower() for a in addresses]
        if not wanted:
            return 0
        with self.store.session() as session:
            done = session.execute(update(portal_recipients).where(
                _R.message_id == message_id, _R.address.in_(wanted), _R.notified.is_(None)).values(
                notified=moment, notifying_by=None, notifying_until=None))
        return int(getattr(done, "rowcount", 0) or 0)

    def link(self, token: str, now: datetime | None = None, *, actor: str | None = None) -> PortalLink | None:
        """What the link token ``token`` names (audited as ``portal.link``), else None. Only the token's SHA-256
        is looked up: the database never sees the token, and a copy of it gives no links."""
        if not token or len(token) > _TOKEN_MAX:
            return None
        moment = now or utcnow()
        with self.store.session() as session:
            row = session.execute(
                select(_R.message_id, _R.address, _R.bcc, _M.sender, _M.brand, _M.expires, _M.state,
                       _M.revoked_note, _M.proof)
                .join(portal_messages, _M.id == _R.message_id).where(_R.token_hash == token_hash(token))).first()
            if row is None:
                return None
            state = _state(row, moment)
            audit.record(session, "portal.link", row.message_id, {"address": row.address, "state": str(state)},
                         actor or ACTOR)
        return PortalLink(row.message_id, row.address, state, row.sender, row.brand, row.expires, row.revoked_note,
                          row.proof, row.bcc)

    def open_message(self, message_id: str, address: str, now: datetime | None = None, *,
                     actor: str | None = None) -> bytes:
        """The message's content for its recipient ``address``; the read is counted and audited, and the first
        read queues a read receipt to the sender when the message asks for one. A message that is not active, or
        an address that is not its recipient, is a ``PortalError``."""
        moment = now or utcnow()
        address = address.lower()
        with self.store.session() as session:
            row = session.execute(select(portal_messages).where(_M.id == message_id)).first()
            rcpt = session.execute(select(portal_recipients).where(_R.message_id == message_id,
                                                                   _R.address == address)).first()
            if row is None or rcpt is None:
                raise PortalError(f"no portal message {message_id} for {address}")
            state = _state(row, moment)
            sealed = _sealed(row)
            if state is not PortalState.ACTIVE or sealed is None:
                raise PortalError(f"the portal message {message_id} is {state}")
            content = unseal(self._kek, sealed, b"portal message " + message_id.encode())
            session.execute(update(portal_recipients).where(_R.id == rcpt.id).values(
                reads=_R.reads + 1, last_read=moment, first_read=func.coalesce(_R.first_read, moment)))
            audit.record(session, "portal.read", message_id, {"address": address}, actor or ACTOR)
            if row.read_receipt and rcpt.reads == 0:
                self._queue(session, "receipt", "", [row.sender], _receipt(content, row.sender, address, moment),
                            moment, message_id)
        return content

    def messages_for(self, address: str, now: datetime | None = None) -> list[PortalMessage]:
        """The messages ``address`` received through the portal (not purged), newest first: the conversation a
        portal session may reach."""
        moment = now or utcnow()
        with self.store.lookup() as conn:
            ids = [r[0] for r in conn.execute(select(_R.message_id).where(_R.address == address.lower()))]
        return [m for m in self._messages(ids, moment) if m.state is not PortalState.PURGED]

    # Passcodes.

    def _code_hash(self, message_id: str, address: str, binding: str, code: str) -> str:
        self._kek  # noqa: B018 (the same UsageError without a key)
        data = "\0".join((message_id, address, hashlib.sha256(binding.encode()).hexdigest(), code)).encode()
        return hmac.new(self._code_key, data, hashlib.sha256).hexdigest()

    def issue_passcode(self, message_id: str, address: str, binding: str, now: datetime | None = None, *,
                       digits: int = PASSCODE_DIGITS, actor: str | None = None) -> Passcode:
        """A new one-time code for ``address`` to read ``message_id`` in the browser named by ``binding`` (an
        opaque value the portal keeps in that browser), valid ``PASSCODE_LIFETIME``; any earlier code for the
        same message and recipient stops working. For an address that is not a readable recipient the same work
        is done and a code of the same shape returned with ``deliverable`` False (nothing stored)."""
        if not 6 <= digits <= 8:
            raise ValueError("a passcode has 6 to 8 digits")
        moment = now or utcnow()
        address = address.lower()
        code = "".join(secrets.choice("0123456789") for _ in range(digits))
        reference = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        expires = moment + PASSCODE_LIFETIME
        hashed = self._code_hash(message_id, address, binding, code)
        with self.store.session() as session:
            row = session.execute(
                select(_M.state, _M.expires).join(portal_recipients, _R.message_id == _M.id)
                .where(_M.id == message_id, _R.address == address)).first()
            deliverable = row is not None and _state(row, moment) is PortalState.ACTIVE
            if deliverable:
                session.execute(delete(portal_passcodes).where(_P.message_id == message_id, _P.address == address))
                session.execute(insert(portal_passcodes).values(
                    message_id=message_id, address=address,
                    binding_hash=hashlib.sha256(binding.encode()).hexdigest(), code_hash=hashed,
                    reference=reference, created=moment, expires=expires, tries=0))
                audit.record(session, "portal.passcode", message_id, {"address": address, "reference": reference},
                             actor or ACTOR)
        return Passcode(code, reference, expires, deliverable)

    def check_passcode(self, message_id: str, address: str, binding: str, code: str, now: datetime | None = None,
                       *, actor: str | None = None) -> PasscodeResult:
        """Whether ``code`` is the current code for this message, recipient and browser. A right code works once;
        ``PASSCODE_MAX_TRIES`` wrong ones and it works no more (a new one is needed)."""
        moment = now or utcnow()
        address = address.lower()
        given = self._code_hash(message_id, address, binding, code.strip()[:16])
        with self.store.session() as session:
            row = session.execute(
                select(portal_passcodes, _M.state.label("message_state"), _M.expires.label("message_expires"))
                .join(portal_messages, _M.id == _P.message_id)
                .where(_P.message_id == message_id, _P.address == address)
                .order_by(_P.id.desc()).limit(1)).first()
            readable = row is not None and row.message_state == "active" and (
                row.message_expires is None or row.message_expires > moment)
            if row is None or not readable:
                result = PasscodeResult.NONE
            elif row.used is not None:
                result = PasscodeResult.USED
            elif row.tries >= PASSCODE_MAX_TRIES:
                result = PasscodeResult.LOCKED
            elif row.expires <= moment:
                result = PasscodeResult.EXPIRED
            elif hmac.compare_digest(given, row.code_hash):
                result = PasscodeResult.OK
                session.execute(update(portal_passcodes).where(_P.id == row.id).values(used=moment))
            else:
                result = PasscodeResult.WRONG
                session.execute(update(portal_passcodes).where(_P.id == row.id).values(tries=_P.tries + 1))
            if row is not None:
                audit.record(session, "portal.passcode-check", message_id,
                             {"address": address, "result": str(result)}, actor or ACTOR)
        return result

    # A password the sender set (proof = "password": passed on to the recipient by another channel).

    def set_password(self, message_id: str, password: str, now: datetime | None = None, *,
                     actor: str | None = None) -> None:
        """Require ``password`` (kept as an argon2id hash) to read ``message_id``, instead of a mailed code."""
        check_chosen_password(password)
        hashed = self.hasher.hash(password)
        with self.store.session() as session:
            done = session.connection().execute(update(portal_messages).where(_M.id == message_id).values(
                proof="password", password_hash=hashed)).rowcount
            if not done:
                raise PortalError(f"no portal message {message_id}")
            audit.record(session, "portal.password", message_id, {}, actor)

    def check_password(self, message_id: str, address: str, password: str, now: datetime | None = None, *,
                       actor: str | None = None) -> bool:
        """Whether ``password`` is the one the sender set for ``message_id`` and ``address`` is a recipient of
        it, the message readable. One argon2 verification runs whatever the case (CPU-heavy: call it off the
        event loop); the result is audited."""
        moment = now or utcnow()
        address = address.lower()
        with self.store.lookup() as conn:
            row = conn.execute(select(_M.password_hash, _M.state, _M.expires)
                               .join(portal_recipients, _R.message_id == _M.id)
                               .where(_M.id == message_id, _R.address == address)).first()
        if not self._dummy:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        encoded = row.password_hash if row is not None and row.password_hash else self._dummy
        try:
            right = bool(self.hasher.verify(encoded, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            right = False
        ok = right and row is not None and bool(row.password_hash) and _state(row, moment) is PortalState.ACTIVE
        if row is not None:
            with self.store.session() as session:
                audit.record(session, "portal.password-check", message_id,
                             {"address": address, "result": "ok" if ok else "wrong"}, actor or ACTOR)
        return ok

    # Rate limits (fixed windows, shared by every node).

    def hit(self, key: str, *, limit: int, window: timedelta, now: datetime | None = None) -> RateResult:
        """Count one hit on ``key`` (e.g. ``portal-ip:192.0.2.1``): ``store.ratelimit.RateLimits.hit``, the one
        home of the shared counters (the console's login throttle counts there too)."""
        return RateLimits(self.store).hit(key, limit=limit, window=window, now=now)

    # Sessions.

    def create_session(self, address: str, now: datetime | None = None,
                       replacing: str | None = None, *, proof: str = "passcode") -> tuple[str, PortalSession]:
        """A new session for ``address`` (the raw id for the cookie, and its record); ``replacing`` (a raw id)
        ends that one in the same transaction (a new id after each proof, ASVS 3.2.1). ``proof``: what opened it,
        ``passcode`` (a mailed code: the mailbox) or ``account`` (password + TOTP)."""
        if proof not in SESSION_PROOFS:
            raise ValueError(f"a portal session is opened by one of {', '.join(SESSION_PROOFS)}, not {proof!r}")
        moment = now or utcnow()
        raw = secrets.token_urlsafe(16)
        csrf = secrets.token_urlsafe(32)
        address = address.lower()
        with self.store.session() as session:
            if replacing is not None:
                session.execute(delete(portal_sessions).where(_S.id_hash == token_hash(replacing)))
            session.execute(delete(portal_sessions).where(self._session_expired(moment)))
            session.execute(insert(portal_sessions).values(id_hash=token_hash(raw), address=address, csrf=csrf,
                                                           created=moment, last_seen=moment, proof=proof))
            audit.record(session, "portal.session", address, {"session": token_hash(raw)[:12], "proof": proof},
                         ACTOR)
        return raw, PortalSession(token_hash(raw)[:12], address, csrf, moment, moment, proof)

    def _session_expired(self, now: datetime) -> Any:
        return or_(_S.last_seen <= now - self.idle, _S.created <= now - self.absolute)

    def get_session(self, raw: str, now: datetime | None = None) -> PortalSession | None:
        """The live session with raw id ``raw`` (its last-seen time moved on), else None."""
        if not raw or len(raw) > _TOKEN_MAX:
            return None
        moment = now or utcnow()
        hashed = token_hash(raw)
        with self.store.session() as session:
            row = session.execute(select(portal_sessions).where(_S.id_hash == hashed)).first()
            if row is None:
                return None
            if row.last_seen <= moment - self.idle or row.created <= moment - self.absolute:
                session.execute(delete(portal_sessions).where(_S.id_hash == hashed))
                return None
            session.execute(update(portal_sessions).where(_S.id_hash == hashed).values(last_seen=moment))
        return PortalSession(hashed[:12], row.address, row.csrf, row.created, moment, row.proof or "passcode")

    def end_session(self, raw: str) -> None:
        with self.store.session() as session:
            session.execute(delete(portal_sessions).where(_S.id_hash == token_hash(raw)))

    def end_sessions(self, address: str) -> int:
        """End every session of ``address``; how many ended."""
        with self.store.session() as session:
            return int(session.connection().execute(
                delete(portal_sessions).where(_S.address == address.lower())).rowcount)

    # Replies.

    def add_reply(self, message_id: str, author: str, content: bytes, now: datetime | None = None, *,
                  actor: str | None = None) -> int:
        """Keep ``content`` (the reply as an RFC 5322 message) sealed in the conversation of ``message_id``; the
        author must be a recipient of the message, which must be active. Queuing it for delivery is a separate
        ``queue('reply', ...)``."""
        moment = now or utcnow()
        author = author.lower()
        with self.store.session() as session:
            row = session.execute(select(_M.state, _M.expires).join(portal_recipients, _R.message_id == _M.id)
                                  .where(_M.id == message_id, _R.address == author)).first()
            if row is None or _state(row, moment) is not PortalState.ACTIVE:
                raise PortalError(f"{author} cannot reply to the portal message {message_id}")
            reply_id = int(session.execute(insert(portal_replies).values(
                message_id=message_id, author=author, created=moment).returning(_Y.id)).scalar_one())
            sealed = seal(self._kek, content, f"portal reply {reply_id}".encode())
            session.execute(update(portal_replies).where(_Y.id == reply_id).values(
                wrapped_key=sealed.wrapped_key, nonce=sealed.nonce, ciphertext=sealed.ciphertext))
            audit.record(session, "portal.reply", message_id, {"address": author, "reply": reply_id}, actor or ACTOR)
        return reply_id

    def replies(self, message_id: str) -> list[PortalReply]:
        """The replies to ``message_id``, oldest first, opened (``content`` None once purged)."""
        with self.store.lookup() as conn:
            rows = list(conn.execute(select(portal_replies).where(_Y.message_id == message_id).order_by(_Y.id)))
        out = []
        for row in rows:
            sealed = _sealed(row)
            content = None if sealed is None else unseal(self._kek, sealed, f"portal reply {row.id}".encode())
            out.append(PortalReply(row.id, row.message_id, row.author, row.created, content))
        return out

    # The outbox.

    def _queue(self, session: Any, kind: str, envelope_from: str, recipients: Sequence[str], content: bytes,
               moment: datetime, message_id: str | None) -> int:
        if kind not in OUTBOX_KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
        if not recipients:
            raise UsageError("outbox mail needs at least one recipient")
        item_id = int(session.execute(insert(portal_outbox).values(
            kind=kind, message_id=message_id, envelope_from=envelope_from, recipients=list(recipients),
            state="queued", attempts=0, created=moment).returning(_O.id)).scalar_one())
        sealed = seal(self._kek, content, f"portal outbox {item_id}".encode())
        session.execute(update(portal_outbox).where(_O.id == item_id).values(
            wrapped_key=sealed.wrapped_key, nonce=sealed.nonce, ciphertext=sealed.ciphertext))
        return item_id

    def queue(self, kind: str, envelope_from: str, recipients: Sequence[str], content: bytes,
              now: datetime | None = None, *, message_id: str | None = None) -> int:
        """Queue mail for the gateway to send (``kind``: notification | passcode | reply | receipt; ``content``
        an RFC 5322 message; ``envelope_from`` "" for the null sender); its id."""
        with self.store.session() as session:
            return self._queue(session, kind, envelope_from, recipients, content, now or utcnow(), message_id)

    def claim(self, node: str, now: datetime | None = None, *, lease: timedelta = OUTBOX_LEASE,
              limit: int = 20) -> list[OutboxItem]:
        """Claim up to ``limit`` items to send, for ``lease``. Safe with several nodes: each item is taken by an
        ``UPDATE ... WHERE`` that only matches while it is queued and unclaimed (or its claim ran out), so two
        nodes never both get it."""
        moment = now or utcnow()
        free = and_(_O.state.in_(("queued", "sending")),
                    or_(_O.claimed_until.is_(None), _O.claimed_until <= moment))
        with self.store.reading() as session:
            ids = [r[0] for r in session.execute(select(_O.id).where(free).order_by(_O.id).limit(limit))]
        claimed: list[OutboxItem] = []
        for item_id in ids:
            with self.store.session() as session:
                taken = session.connection().execute(update(portal_outbox).where(_O.id == item_id, free).values(
                    state="sending", claimed_by=node[:64], claimed_until=moment + lease)).rowcount
                if taken != 1:
                    continue
                row = session.execute(select(portal_outbox).where(_O.id == item_id)).one()
            sealed = _sealed(row)
            if sealed is None:
                continue
            content = unseal(self._kek, sealed, f"portal outbox {item_id}".encode())
            claimed.append(OutboxItem(row.id, row.kind, row.message_id, row.envelope_from,
                                      tuple(row.recipients), content, row.attempts))
        return claimed

    def mark_sent(self, item_id: int, node: str, now: datetime | None = None) -> bool:
        """The item was accepted by the next hop: its content is destroyed. False when ``node`` no longer holds
        the claim (another node took it over after the lease)."""
        moment = now or utcnow()
        with self.store.session() as session:
            done = session.connection().execute(update(portal_outbox).where(
                _O.id == item_id, _O.state == "sending", _O.claimed_by == node[:64]).values(
                state="sent", sent_at=moment, claimed_until=moment, wrapped_key=None, nonce=None,
                ciphertext=None)).rowcount
        return bool(done)

    def mark_failed(self, item_id: int, node: str, error: str, now: datetime | None = None, *,
                    permanent: bool = False, retry_in: timedelta = timedelta(minutes=1)) -> str:
        """A failed attempt: queued again after ``retry_in`` (doubled per attempt, at most an hour), or ``failed``
        for good when ``permanent`` or after ``OUTBOX_MAX_ATTEMPTS``; the new state."""
        moment = now or utcnow()
        with self.store.session() as session:
            row = session.execute(select(_O.attempts).where(_O.id == item_id, _O.claimed_by == node[:64])).first()
            if row is None:
                return "unknown"
            attempts = row.attempts + 1
            final = permanent or attempts >= OUTBOX_MAX_ATTEMPTS
            delay = min(retry_in * (2 ** (attempts - 1)), timedelta(hours=1))
            values: dict[str, Any] = {"attempts": attempts, "last_error": error[:255],
                                      "state": "failed" if final else "queued",
                                      "claimed_until": moment if final else moment + delay}
            if final:
                values.update(wrapped_key=None, nonce=None, ciphertext=None)
            session.execute(update(portal_outbox).where(_O.id == item_id).values(**values))
        return str(values["state"])

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox items are in each state."""
        with self.store.lookup() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(select(_O.state, func.count()).group_by(_O.state))}

    # Administration.

    def _messages(self, ids: Sequence[str], moment: datetime, *, accesses: bool = False) -> list[PortalMessage]:
        if not ids:
            return []
        with self.store.lookup() as conn:
            rows = list(conn.execute(select(portal_messages).where(_M.id.in_(ids)).order_by(_M.created.desc())))
            rcpts: dict[str, list[PortalRecipient]] = {}
            for r in conn.execute(select(portal_recipients).where(_R.message_id.in_(ids)).order_by(_R.id)):
                rcpts.setdefault(r.message_id, []).append(
                    PortalRecipient(r.address, r.bcc, r.reads, r.first_read, r.last_read, r.notified))
            replies: dict[str, int] = {r[0]: int(r[1]) for r in conn.execute(
                select(_Y.message_id, func.count()).where(_Y.message_id.in_(ids)).group_by(_Y.message_id))}
            seen: dict[str, list[PortalAccess]] = {}
            if accesses:
                a = audit_log.c
                for e in conn.execute(select(audit_log).where(a.subject.in_(ids), a.action.like("portal.%"))
                                      .order_by(a.id)):
                    detail = e.detail or {}
                    address = detail.get("address")
                    seen.setdefault(e.subject, []).append(
                        PortalAccess(e.time, e.action, address if isinstance(address, str) else None, e.actor))
        return [PortalMessage(r.id, r.sender, r.brand, r.created, r.expires, _state(r, moment), r.revoked_at,
                              r.revoked_note, r.proof, r.read_receipt, r.size, tuple(rcpts.get(r.id, ())),
                              int(replies.get(r.id, 0)), tuple(seen.get(r.id, ()))) for r in rows]

    def list_messages(self, now: datetime | None = None, *, sender: str | None = None,
                      recipient: str | None = None, state: str | None = None, limit: int = 100) -> list[PortalMessage]:
        """Messages newest first, filtered by sender, recipient and state (``active`` excludes expired ones)."""
        moment = now or utcnow()
        query = select(_M.id).order_by(_M.created.desc())
        if sender:
            query = query.where(_M.sender == sender.lower())
        if recipient:
            query = query.where(_M.id.in_(select(_R.message_id).where(_R.address == recipient.lower())))
        if state == "expired":
            query = query.where(_M.state == "active", _M.expires.is_not(None), _M.expires <= moment)
        elif state == "active":
            query = query.where(_M.state == "active", or_(_M.expires.is_(None), _M.expires > moment))
        elif state is not None:
            if state not in ("revoked", "purged"):
                raise UsageError(f"no portal message state {state!r} (active, expired, revoked, purged)")
            query = query.where(_M.state == state)
        with self.store.lookup() as conn:
            ids = [r[0] for r in conn.execute(query.limit(limit))]
        return self._messages(ids, moment)

    def show(self, message_id: str, now: datetime | None = None) -> PortalMessage:
        """One message with its recipients' reads and every audited access (who read what when)."""
        found = self._messages([message_id], now or utcnow(), accesses=True)
        if not found:
            raise PortalError(f"no portal message {message_id}")
        return found[0]

    def revoke(self, message_id: str | None = None, *, sender: str | None = None, recipient: str | None = None,
               note: str = "", now: datetime | None = None, actor: str | None = None) -> list[str]:
        """Revoke the active messages named by id, sender or recipient (at least one); their readers then see
        "revoked by the sender". The ids revoked."""
        if message_id is None and not sender and not recipient:
            raise UsageError("name the messages to revoke: an id, a sender or a recipient")
        moment = now or utcnow()
        query = select(_M.id).where(_M.state == "active")
        if message_id is not None:
            query = query.where(_M.id == message_id)
        if sender:
            query = query.where(_M.sender == sender.lower())
        if recipient:
            query = query.where(_M.id.in_(select(_R.message_id).where(_R.address == recipient.lower())))
        with self.store.session() as session:
            ids = [r[0] for r in session.execute(query)]
            if ids:
                session.execute(update(portal_messages).where(_M.id.in_(ids)).values(
                    state="revoked", revoked_at=moment, revoked_note=note[:255] or None))
                session.execute(delete(portal_passcodes).where(_P.message_id.in_(ids)))
            for revoked in ids:
                audit.record(session, "portal.revoke", revoked, {"note": note[:255]}, actor)
        if message_id is not None and not ids:
            raise PortalError(f"no active portal message {message_id}")
        return ids

    def extend(self, message_id: str, days: int, now: datetime | None = None, *,
               actor: str | None = None) -> datetime | None:
        """Give a message ``days`` more (from its expiry, or from now when it has expired already; 0: never
        expires); the new expiry. A revoked or purged message cannot be extended."""
        _check_days(days, "the extension")
        moment = now or utcnow()
        with self.store.session() as session:
            row = session.execute(select(portal_messages).where(_M.id == message_id)).first()
            if row is None:
                raise PortalError(f"no portal message {message_id}")
            if row.state != "active":
                raise PortalError(f"the portal message {message_id} is {row.state}: it cannot be extended")
            expires = None if days == 0 else max(row.expires or moment, moment) + timedelta(days=days)
            session.execute(update(portal_messages).where(_M.id == message_id).values(expires=expires))
            audit.record(session, "portal.extend", message_id, {"expires": expires and expires.isoformat()}, actor)
        return expires

    def purge(self, now: datetime | None = None, *, actor: str | None = None) -> PurgeResult:
        """Destroy the sealed content and key of every message past its expiry (revoked ones too), and of their
        replies; remove used or stale passcodes, dead sessions, old rate windows and old outbox rows."""
        moment = now or utcnow()
        with self.store.session() as session:
            conn = session.connection()
            ids = [r[0] for r in conn.execute(select(_M.id).where(
                _M.state != "purged", _M.expires.is_not(None), _M.expires <= moment))]
            if ids:
                conn.execute(update(portal_messages).where(_M.id.in_(ids)).values(
                    state="purged", wrapped_key=None, nonce=None, ciphertext=None))
                conn.execute(update(portal_replies).where(_Y.message_id.in_(ids)).values(
                    wrapped_key=None, nonce=None, ciphertext=None))
            for purged in ids:
                audit.record(session, "portal.purge", purged, {}, actor)
            codes = conn.execute(delete(portal_passcodes).where(
                or_(_P.expires <= moment, _P.used.is_not(None), _P.message_id.in_(ids)))).rowcount
            sessions = conn.execute(delete(portal_sessions).where(self._session_expired(moment))).rowcount
            windows = conn.execute(delete(rate_limits).where(_L.window_start <= moment - timedelta(days=1))).rowcount
            outbox = conn.execute(delete(portal_outbox).where(
                _O.state.in_(("sent", "failed")), _O.claimed_until <= moment - OUTBOX_KEEP)).rowcount
        return PurgeResult(len(ids), int(codes), int(sessions), int(windows), int(outbox))


def _receipt(original: bytes, sender: str, reader: str, when: datetime) -> bytes:
    """A read receipt for ``sender``: who opened the message and when (its subject, nothing of its body)."""
    headers = BytesHeaderParser().parsebytes(original)
    msg = EmailMessage(policy=SMTP)
    domain = sender.rpartition("@")[2] or "localhost"
    msg["From"] = f"postmaster@{domain}"
    msg["To"] = sender
    msg["Subject"] = f"Read: {headers.get('Subject', '(no subject)')}"
    msg["Date"] = formatdate(when.timestamp(), usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5: no automatic answer to this one
    if headers.get("Message-ID"):
        msg["In-Reply-To"] = headers["Message-ID"]
        msg["References"] = headers["Message-ID"]
    msg.set_content(f"{reader} opened your message in the portal at {when.strftime('%Y-%m-%d %H:%M UTC')}.\n")
    return msg.as_bytes()


__all__ = ["ABSOLUTE", "IDLE", "MAX_EXPIRY_DAYS", "MIN_PASSWORD_CHARS", "NOTIFY_LEASE", "OUTBOX_KINDS", "PASSCODE_DIGITS",
           "PASSCODE_LIFETIME", "PASSCODE_MAX_TRIES", "PROOFS", "RETRY_WINDOW", "SESSION_PROOFS", "PortalStore",
           "check_chosen_password", "deposit_digest", "new_password", "token_hash"]

"""What the portal store hands back (docs/portal.md, "Store API"): frozen records and result enums, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


class PortalState(StrEnum):
    """A portal message's state as readers see it: ``expired`` is an active message past its expiry."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    PURGED = "purged"


class PasscodeResult(StrEnum):
    """What checking a passcode gave. Only ``OK`` opens a session; the others are for the page's wording and the
    audit log (a page must not tell a guesser more than "that code does not work, ask for a new one")."""

    OK = "ok"
    WRONG = "wrong"  # not the code (a try counted)
    EXPIRED = "expired"  # past its 10 minutes
    USED = "used"  # already used once
    LOCKED = "locked"  # too many wrong tries: a new code is needed
    NONE = "none"  # no code was issued for this message and recipient (or the message is no longer readable)


@dataclass(frozen=True)
class Deposit:
    """A deposited message: its id and, once only, each recipient's clear link token (only hashes are kept).
    ``existing``: the same message was deposited before (a retried transaction); ``tokens`` then holds new links
    only for the recipients whose notification the next hop has not accepted yet."""

    id: str
    tokens: dict[str, str]
    expires: datetime | None
    existing: bool = False
    proof: str = "passcode"  # what its readers prove: passcode | password | account


@dataclass(frozen=True)
class PortalLink:
    """What a link token names: the message, the recipient it was sent to, and the message's state now."""

    message_id: str
    address: str
    state: PortalState
    sender: str
    brand: str
    expires: datetime | None
    revoked_note: str | None
    proof: str
    bcc: bool


@dataclass(frozen=True)
class Passcode:
    """A one-time code to mail to the recipient, with the reference code shown on the page and in the mail.
    ``deliverable`` is False when the message and address do not make a readable recipient: the code was made the
    same way (same work, same shape) but not stored, and must not be mailed."""

    code: str
    reference: str
    expires: datetime
    deliverable: bool


@dataclass(frozen=True)
class PortalSession:
    """A portal session: the recipient address it proves, its CSRF token, ``key`` (12 hex digits of the id's
    hash: names the session, useless as a cookie) and ``proof``, what opened it (passcode | account)."""

    key: str
    address: str
    csrf: str
    created: datetime
    last_seen: datetime
    proof: str = "passcode"


@dataclass(frozen=True)
class PortalRecipient:
    address: str
    bcc: bool
    reads: int
    first_read: datetime | None
    last_read: datetime | None
    notified: datetime | None = None  # when the next hop accepted this recipient's notification

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "bcc": self.bcc, "reads": self.reads, "first_read": _iso(self.first_read),
                "last_read": _iso(self.last_read), "notified": _iso(self.notified)}


@dataclass(frozen=True)
class PortalAccess:
    """One audited access to a message: ``action`` is ``portal.read``, ``portal.link``, ``portal.passcode`` ..."""

    time: datetime
    action: str
    address: str | None
    actor: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": _iso(self.time), "action": self.action, "address": self.address, "actor": self.actor}


@dataclass(frozen=True)
class PortalMessage:
    """A portal message as the administrator sees it (never its content)."""

    id: str
    sender: str
    brand: str
    created: datetime
    expires: datetime | None
    state: PortalState
    revoked_at: datetime | None
    revoked_note: str | None
    proof: str
    read_receipt: bool
    size: int
    recipients: tuple[PortalRecipient, ...] = ()
    replies: int = 0
    accesses: tuple[PortalAccess, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sender": self.sender, "brand": self.brand, "created": _iso(self.created),
                "expires": _iso(self.expires), "state": str(self.state), "revoked_at": _iso(self.revoked_at),
                "revoked_note": self.revoked_note, "proof": self.proof, "read_receipt": self.read_receipt,
                "size": self.size, "recipients": [r.to_dict() for r in self.recipients], "replies": self.replies,
                "accesses": [a.to_dict() for a in self.accesses]}


@dataclass(frozen=True)
class PortalReply:
    """A reply written in the portal; ``content`` is the reply as queued (an RFC 5322 message), None once purged."""

    id: int
    message_id: str
    author: str
    created: datetime
    content: bytes | None


@dataclass(frozen=True)
class OutboxItem:
    """Mail claimed from the outbox: ``kind`` notification | passcode | reply | receipt; ``content`` is the
    message to send (an RFC 5322 message; a reply still to be signed/encrypted by the gateway)."""

    id: int
    kind: str
    message_id: str | None
    envelope_from: str
    recipients: tuple[str, ...]
    content: bytes
    attempts: int


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed: messages whose sealed content and key were destroyed, and stale rows of the rest."""

    messages: int
    passcodes: int
    sessions: int
    rate_windows: int
    outbox: int

    def to_dict(self) -> dict[str, int]:
        return {"messages": self.messages, "passcodes": self.passcodes, "sessions": self.sessions,
                "rate_windows": self.rate_windows, "outbox": self.outbox}


__all__ = ["Deposit", "OutboxItem", "Passcode", "PasscodeResult", "PortalAccess", "PortalLink", "PortalMessage",
           "PortalRecipient", "PortalReply", "PortalSession", "PortalState", "PurgeResult"]

"""What the console needs from the gateway's held messages, as a small protocol: the console imports no gateway
code, so the process that serves it (`mailseal serve`, `mailseal web`) hands it an implementation
(``cli/held_port.py``); without one the Held page says why it cannot show them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class HeldItem:
    """One held message as the console shows it: never its body."""

    id: str
    held_at: str
    size: int
    mail_from: str
    recipients: tuple[str, ...]
    reasons: dict[str, str]
    message_id: str
    header: tuple[str, ...] = field(default=())

    @property
    def reason(self) -> str:
        """The reasons, each said once (most messages have one for every recipient)."""
        return "; ".join(dict.fromkeys(r for r in self.reasons.values() if r))

    def to_dict(self, *, header: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "held_at": self.held_at, "size": self.size,
                               "mail_from": self.mail_from, "recipients": list(self.recipients),
                               "reasons": dict(self.reasons), "message_id": self.message_id}
        if header:
            out["header"] = list(self.header)
        return out


@dataclass(frozen=True)
class ReleasedItem:
    """What a release delivered: to whom, how many copies, what the policy did (``encrypted``, ``signed``)."""

    id: str
    recipients: tuple[str, ...]
    copies: int
    actions: tuple[str, ...]
    unencrypted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "recipients": list(self.recipients), "copies": self.copies,
                "actions": list(self.actions), "unencrypted": self.unencrypted}


class HeldMail(Protocol):
    """The held messages of one gateway. ``get`` and ``delete`` take an id or a unique prefix of one; a missing
    id raises a UsageError that starts "no held message"."""

    def list(self) -> list[HeldItem]:
        """Oldest first."""

    def get(self, held_id: str) -> HeldItem:
        """With its header lines."""

    def release(self, held_id: str, *, unencrypted: bool, only: Sequence[str], actor: str) -> ReleasedItem:
        """Through the policy again and the gateway's relay; audited by the gateway (``gateway.release``)."""

    def delete(self, held_id: str) -> HeldItem:
        """Dropped without delivery (the caller audits it)."""


__all__ = ["HeldItem", "HeldMail", "ReleasedItem"]

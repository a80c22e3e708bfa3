"""What the gateway did to one message: an ``Outcome`` per copy (its steps in order and what each found), and the
``Processed`` message (its copies, the recipients held and the policy's ``Decision``). The audit log, the metrics,
the stamps and the web console read these; nothing downstream parses action strings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, BinaryIO

from ..errors import ErrorCode
from ..policy import Decision


class Step(StrEnum):
    """One thing done to a copy; the audit log and the metrics name it by its value."""

    SUBJECT_TRIGGER_REMOVED = "subject-trigger-removed"
    SIGNATURE_STRIPPED = "signature-stripped"
    LINE_ENDS_NORMALISED = "line-ends-normalised"
    SIGNED = "signed"
    ENCRYPTED = "encrypted"
    DECRYPTED = "decrypted"
    DECRYPT_FAILED = "decrypt-failed"
    VERIFIED = "verified"  # named with the signature's status: "verified:valid"
    REFUSAL_NOTICE = "refusal-notice"
    PORTAL = "portal"  # deposited in the recipient portal; this copy is the recipient's notification


#: The action of a copy the gateway passed on without changing its content.
RELAYED = "relayed"


@dataclass(frozen=True)
class Outcome:
    """What happened to one copy, step by step. Each stage returns a new Outcome (``then``); the fields say what
    the steps found, None where the step did not run."""

    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    signer: str | None = None  # the address whose key signed
    digest: str | None = None
    cipher: str | None = None
    key_transport: str | None = None
    encrypted_for: int | None = None
    subject_obscured: bool = False
    decrypted: bool | None = None  # None: not tried; False: tried and failed (see notes)
    signature: str | None = None  # the verified signature's status (Report.status)
    signature_valid: bool | None = None
    verify_error: ErrorCode | None = None  # the signature could not be read at all
    verify_message: str | None = None
    harvested: int | None = None
    harvest_error: ErrorCode | None = None
    refused: int | None = None  # a refusal notice: how many recipients it reports
    portal_message: str | None = None  # the portal message's id (a notification)

    def then(self, step: Step, **found: Any) -> Outcome:
        """This outcome with one more step and what it found."""
        return dataclasses.replace(self, steps=(*self.steps, step), **found)

    def noting(self, note: str) -> Outcome:
        return dataclasses.replace(self, notes=(*self.notes, note))

    @property
    def actions(self) -> list[str]:
        """The steps as the audit log and the metrics name them ("relayed" when none)."""
        names = [f"{step}:{self.signature}" if step is Step.VERIFIED else str(step) for step in self.steps]
        return names or [RELAYED]

    def to_dict(self) -> dict[str, Any]:
        """The audit record of this copy: its actions and what was found (only what applies)."""
        found: dict[str, Any] = {"actions": self.actions}
        for name in ("signer", "digest", "cipher", "key_transport", "encrypted_for", "signature", "verify_message",
                     "harvested", "refused", "portal_message"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        for name in ("verify_error", "harvest_error"):
            code = getattr(self, name)
            if code is not None:
                found[name] = code.value
        if self.subject_obscured:
            found["subject_obscured"] = True
        if self.notes:
            found["notes"] = list(self.notes)
        return found


@dataclass(frozen=True)
class Outgoing:
    """One copy to deliver: its recipients, the message file (closed by ``close``) and what was done to it."""

    recipients: tuple[str, ...]
    file: BinaryIO
    outcome: Outcome
    sender: str | None = None  # the envelope sender of this copy when not the message's ("" for a DSN)

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class Processed:
    """One message through the policy: the copies to deliver, the recipients held, and the decision."""

    outgoing: tuple[Outgoing, ...]
    held: tuple[str, ...]
    decision: Decision
    message_id: str

    @property
    def actions(self) -> list[str]:
        """Every action of every copy, once each, sorted (the metrics' labels)."""
        return sorted({a for out in self.outgoing for a in out.outcome.actions})

    def close(self) -> None:
        for out in self.outgoing:
            out.close()


__all__ = ["RELAYED", "Outcome", "Outgoing", "Processed", "Step"]

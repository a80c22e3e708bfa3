"""The result of policy for one message: a RecipientDecision per recipient, and the groups the gateway sends."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .actions import Action, Direction


@dataclass(frozen=True)
class SubjectTags:
    """Tags for inbound subjects; which apply is known only after the gateway opened the message."""

    encrypted: str | None = None
    signed: str | None = None
    failed: str | None = None

    def for_outcome(self, *, encrypted: bool, signed: bool, failed: bool) -> str | None:
        """The tag to put before the subject: the failure tag alone when decryption or verification failed, else
        the encrypted and signed tags that apply, in that order."""
        if failed:
            return self.failed
        tags = [t for t, on in ((self.encrypted, encrypted), (self.signed, signed)) if on and t]
        return " ".join(tags) or None

    def to_dict(self) -> dict[str, str | None]:
        return {"encrypted": self.encrypted, "signed": self.signed, "failed": self.failed}


@dataclass(frozen=True)
class RecipientDecision:
    """What happens for one recipient, and why.

    ``refuse`` / ``hold`` carry a human reason when policy rejects or holds this recipient (then no other field is
    acted on). ``rule`` names what decided: ``rule NAME``, ``user ADDRESS``, ``domain DOMAIN``, ``global``,
    ``default`` or ``relay``; ``sources`` gives the origin of every setting, ``notes`` why a wish was not granted
    (e.g. the no-signing-oracle checks).
    """

    recipient: str
    direction: Direction
    sign: bool = False
    encrypt: bool = False
    decrypt: bool = False
    verify: bool = False
    strip_signature: bool = False
    subject_tag: str | None = None
    refuse: str | None = None
    hold: str | None = None
    bcc: bool = False
    rule: str = "default"
    sources: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    #: The effective per-recipient settings (sign, encrypt, ...) after inheritance and the rule, as plain values.
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    notes: tuple[str, ...] = ()
    #: The subject with a rule's trigger text removed (``remove_trigger = true``); None: leave the subject alone.
    subject_rewrite: str | None = None
    #: Inbound tags by outcome, for the gateway to choose from once it knows what opening the message found.
    subject_tags: SubjectTags = SubjectTags()
    #: The address whose key signs when ``sign`` is true.
    signer: str | None = None
    #: The recipient reads the message in the portal (docs/portal.md): the gateway deposits it and sends a
    #: notification instead of the message.
    portal: bool = False

    @property
    def action(self) -> Action:
        if self.refuse is not None:
            return Action.REJECT
        if self.hold is not None:
            return Action.HOLD
        return Action.DELIVER

    def treatment(self) -> tuple[Any, ...]:
        """What must be equal for two recipients to share one outgoing message."""
        return (self.sign, self.signer, self.encrypt, self.decrypt, self.verify, self.strip_signature,
                self.subject_tag, self.subject_tags, self.subject_rewrite, self.portal)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient, "direction": str(self.direction), "action": str(self.action),
            "sign": self.sign, "signer": self.signer, "encrypt": self.encrypt, "decrypt": self.decrypt,
            "verify": self.verify, "strip_signature": self.strip_signature, "portal": self.portal,
            "subject_tag": self.subject_tag, "subject_tags": self.subject_tags.to_dict(), "subject_rewrite": self.subject_rewrite,
            "refuse": self.refuse, "hold": self.hold, "bcc": self.bcc, "rule": self.rule,
            "settings": dict(self.settings), "sources": dict(self.sources), "notes": list(self.notes),
        }


@dataclass(frozen=True)
class RecipientGroup:
    """Recipients that get the same message: one outgoing message (one SMTP transaction) per group."""

    decisions: tuple[RecipientDecision, ...]

    def __iter__(self) -> Iterator[RecipientDecision]:
        return iter(self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)

    @property
    def direction(self) -> Direction:
        """The direction of the first recipient (groups may mix outbound and internal recipients)."""
        return self._first().direction

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(d.recipient for d in self.decisions)

    def _first(self) -> RecipientDecision:
        return self.decisions[0]

    @property
    def sign(self) -> bool:
        return self._first().sign

    @property
    def signer(self) -> str | None:
        return self._first().signer

    @property
    def encrypt(self) -> bool:
        return self._first().encrypt

    @property
    def decrypt(self) -> bool:
        return self._first().decrypt

    @property
    def verify(self) -> bool:
        return self._first().verify

    @property
    def strip_signature(self) -> bool:
        return self._first().strip_signature

    @property
    def subject_tag(self) -> str | None:
        return self._first().subject_tag

    @property
    def subject_tags(self) -> SubjectTags:
        return self._first().subject_tags

    @property
    def subject_rewrite(self) -> str | None:
        return self._first().subject_rewrite

    @property
    def portal(self) -> bool:
        """The group's recipients read the message in the portal (each gets a notification of their own)."""
        return self._first().portal

    @property
    def bcc(self) -> bool:
        """A forked Bcc recipient alone in its group."""
        return len(self.decisions) == 1 and self._first().bcc

    def to_dict(self) -> dict[str, Any]:
        first = self._first()
        return {"recipients": list(self.recipients), "sign": first.sign, "signer": first.signer,
                "encrypt": first.encrypt, "decrypt": first.decrypt, "verify": first.verify,
                "strip_signature": first.strip_signature, "subject_tag": first.subject_tag,
                "subject_rewrite": first.subject_rewrite, "portal": first.portal, "bcc": self.bcc}


@dataclass(frozen=True)
class Decision:
    """Policy's answer for one SMTP transaction: one RecipientDecision per RCPT TO, in envelope order."""

    sender: str  # the envelope sender, normalized ("" for the null sender)
    recipients: tuple[RecipientDecision, ...]
    fork_bcc: bool = True
    notes: tuple[str, ...] = ()

    def __getitem__(self, recipient: str) -> RecipientDecision:
        wanted = recipient.strip().lower()
        for d in self.recipients:
            if d.recipient.lower() == wanted:
                return d
        raise KeyError(recipient)

    @property
    def directions(self) -> dict[str, Direction]:
        return {d.recipient: d.direction for d in self.recipients}

    def refused(self) -> tuple[RecipientDecision, ...]:
        return tuple(d for d in self.recipients if d.action is Action.REJECT)

    def held(self) -> tuple[RecipientDecision, ...]:
        return tuple(d for d in self.recipients if d.action is Action.HOLD)

    def accepted(self) -> tuple[RecipientDecision, ...]:
        return tuple(d for d in self.recipients if d.action is Action.DELIVER)

    def groups(self) -> tuple[RecipientGroup, ...]:
        """Accepted recipients grouped by identical treatment, in order of first appearance.

        With ``fork_bcc`` every Bcc recipient of an *encrypted* group gets a group of its own: an encrypted message
        names each recipient in its RecipientInfos, so sharing it would reveal Bcc recipients to everyone. A message
        that is not encrypted reveals nothing of its envelope, so Bcc recipients stay with the others there.
        """
        buckets: dict[tuple[Any, ...], list[RecipientDecision]] = {}
        for d in self.accepted():
            key: tuple[Any, ...] = d.treatment()
            if self.fork_bcc and d.encrypt and d.bcc:
                key = (*key, "bcc", d.recipient)
            buckets.setdefault(key, []).append(d)
        return tuple(RecipientGroup(tuple(ds)) for ds in buckets.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "recipients": [d.to_dict() for d in self.recipients],
            "groups": [g.to_dict() for g in self.groups()],
            "refused": [d.recipient for d in self.refused()],
            "held": [d.recipient for d in self.held()],
            "notes": list(self.notes),
        }


__all__ = ["Decision", "RecipientDecision", "RecipientGroup", "SubjectTags"]

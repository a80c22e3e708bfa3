""""What would happen": a described message (sender, recipients, subject, size, protection) run through a policy,
for `mailseal policy explain` and the console's policy tester, which must answer alike (docs/policy.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, UsageError
from .content import limited
from .decision import Decision
from .engine import Policy
from .facts import EitherFacts, Envelope, Facts, MessageFacts, StaticFacts
from .validation import size as parse_size


@dataclass(frozen=True)
class Example:
    """A message as described on the command line or in the tester's form (``text``: its body, for content rules). ``sender`` "" or "<>" is the null
    sender; ``headers`` are "Name: value" strings; ``size`` is bytes or "10M"; ``assume_keys``/``assume_certs``
    add what the store may not know (a signing and decryption key, an encryption certificate)."""

    sender: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    header_from: tuple[str, ...] = ()
    subject: str = ""
    headers: tuple[str, ...] = ()
    size: int | str = "1K"
    signed: bool = False
    encrypted: bool = False
    assume_keys: tuple[str, ...] = ()
    assume_certs: tuple[str, ...] = ()
    #: A sample of the message's text for content rules (None: no text given, content rules are not evaluated).
    text: str | None = field(default=None, repr=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        return (*self.to, *self.cc, *self.bcc)

    @property
    def mail_from(self) -> str:
        return "" if self.sender.strip() in ("", "<>") else self.sender.strip()

    def envelope(self) -> Envelope:
        if not self.recipients:
            raise UsageError("give at least one recipient (To, Cc or Bcc)")
        return Envelope(self.mail_from, self.recipients)

    def message(self) -> MessageFacts:
        try:
            size = self.size if isinstance(self.size, int) else parse_size(self.size, "size")
        except ConfigurationError as exc:
            raise UsageError(exc.message) from None
        froms = self.header_from or ((self.mail_from,) if self.mail_from else ())
        fields: list[tuple[str, str]] = [("From", ", ".join(froms))] if froms else []
        fields += [(name, ", ".join(addrs)) for name, addrs in (("To", self.to), ("Cc", self.cc)) if addrs]
        fields.append(("Subject", self.subject))
        for item in self.headers:
            name, colon, value = item.partition(":")
            if not colon or not name.strip():
                raise UsageError(f"header {item!r}: write it as 'Name: value'")
            fields.append((name.strip(), value.strip()))
        return MessageFacts(from_addresses=froms, subject=self.subject, headers=tuple(fields), size=size,
                            signed=self.signed, encrypted=self.encrypted,
                            header_recipients=frozenset((*self.to, *self.cc)),
                            text=None if self.text is None else "\n\n".join(t for t in (self.subject, self.text) if t))


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    facts_from: str  # where the keys and certificates came from, in words
    #: [policy.smime] post_quantum: which certificates a recipient with a classical and an ML-KEM one gets.
    post_quantum: str = "hybrid"

    def to_dict(self) -> dict[str, Any]:
        """What `mailseal policy explain --json` prints and ``POST /api/v1/policy/test`` answers."""
        return {**self.decision.to_dict(), "facts": self.facts_from, "post_quantum": self.post_quantum}


def explain(policy: Policy, example: Example, store_facts: Facts | None, *, without_store: str = "no store"
            ) -> Explanation:
    """What ``policy`` decides for ``example``, the store's facts (None: not read, because ``without_store``)
    joined by the example's assumptions."""
    envelope, message = example.envelope(), example.message()
    if message.text is not None:
        text, cut = limited(message.text, policy.content)
        message = dataclasses.replace(message, text=text, text_notes=cut)
    assumed = StaticFacts(signing_keys=example.assume_keys, decryption_keys=example.assume_keys,
                          certificates=example.assume_certs)
    facts: Facts = assumed if store_facts is None else EitherFacts(assumed, store_facts)
    words = f"assumptions only ({without_store})" if store_facts is None else "assumptions and the store"
    return Explanation(policy.decide(envelope, message, facts), words, policy.smime.post_quantum)


__all__ = ["Example", "Explanation", "explain"]

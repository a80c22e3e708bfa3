"""Helpers for policy tests: a policy from TOML text, envelopes and message facts in one call."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable

from mailseal.policy import Decision, Envelope, MessageFacts, Policy, StaticFacts

BASE = """
[gateway]
accepted_domains = ["example.org", "*.corp.example.org"]
"""


def policy(toml: str = "", *, base: str = BASE) -> Policy:
    return Policy.from_settings(tomllib.loads(base + toml))


def message(*, sender: str | None = "alice@example.org", subject: str = "Hello", size: int = 1000,
            headers: Iterable[tuple[str, str]] = (), signed: bool = False, encrypted: bool = False,
            to: Iterable[str] | None = None, froms: Iterable[str] | None = None) -> MessageFacts:
    from_addresses = tuple(froms) if froms is not None else ((sender,) if sender else ())
    return MessageFacts(from_addresses=from_addresses, subject=subject,
                        headers=(("From", ", ".join(from_addresses)), ("Subject", subject), *headers), size=size,
                        signed=signed, encrypted=encrypted,
                        header_recipients=frozenset(to) if to is not None else frozenset())


def decide(pol: Policy, sender: str, *recipients: str, facts: StaticFacts | None = None,
           msg: MessageFacts | None = None, bcc: Iterable[str] = ()) -> Decision:
    """Every recipient is in To unless named in ``bcc``; the From header is the envelope sender unless ``msg``."""
    hidden = {b.lower() for b in bcc}
    if msg is None:
        msg = message(sender=sender, to=[r for r in recipients if r.lower() not in hidden])
    return pol.decide(Envelope(sender, tuple(recipients)), msg, facts or StaticFacts())


def everything(*addresses: str) -> StaticFacts:
    """Keys and certificates for every address given."""
    return StaticFacts(signing_keys=addresses, decryption_keys=addresses, certificates=addresses)

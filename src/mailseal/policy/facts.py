"""What policy decides on: the SMTP envelope, facts about the message, and what the store knows (a protocol)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .addresses import normalize


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope: MAIL FROM ("" for the null sender) and the RCPT TO addresses in order."""

    mail_from: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class MessageFacts:
    """What the gateway read from the message before deciding: the header, and the text only for content rules."""

    from_addresses: tuple[str, ...]  # addresses in the From header field
    subject: str
    headers: tuple[tuple[str, str], ...]  # (name, value) of every header field, in order
    size: int
    signed: bool  # the message already carries an S/MIME signature at its root
    encrypted: bool  # the message is S/MIME encrypted at its root
    header_recipients: frozenset[str] = frozenset()  # addresses in To and Cc: recipients not in here are Bcc
    #: The readable text (Subject, text parts and text attachments), read only when a rule has content conditions;
    #: None: not read. ``text_notes`` say what was left out (past the scan limit, encrypted parts), never the text.
    text: str | None = field(default=None, repr=False)
    text_notes: tuple[str, ...] = ()


@runtime_checkable
class Facts(Protocol):
    """What the store knows about addresses; the gateway implements it over its store and certificate lookup."""

    def has_signing_key(self, address: str) -> bool:
        """A private key the gateway may sign with for ``address``."""
        ...

    def has_decryption_key(self, address: str) -> bool:
        """A private key that can decrypt mail to ``address``."""
        ...

    def has_certificate(self, address: str) -> bool:
        """A usable encryption certificate for ``address`` can be found."""
        ...


class StaticFacts:
    """Facts from fixed sets of addresses (case-insensitive): tests, `mailseal policy explain --no-store`."""

    def __init__(self, signing_keys: Iterable[str] = (), decryption_keys: Iterable[str] = (),
                 certificates: Iterable[str] = ()) -> None:
        self.signing_keys = frozenset(normalize(a) for a in signing_keys)
        self.decryption_keys = frozenset(normalize(a) for a in decryption_keys)
        self.certificates = frozenset(normalize(a) for a in certificates)

    def has_signing_key(self, address: str) -> bool:
        return normalize(address) in self.signing_keys

    def has_decryption_key(self, address: str) -> bool:
        return normalize(address) in self.decryption_keys

    def has_certificate(self, address: str) -> bool:
        return normalize(address) in self.certificates


class EitherFacts:
    """True when any of the sources says so: the assumptions given (``--assume-key``), then the store."""

    def __init__(self, *sources: Facts) -> None:
        self.sources = sources

    def has_signing_key(self, address: str) -> bool:
        return any(s.has_signing_key(address) for s in self.sources)

    def has_decryption_key(self, address: str) -> bool:
        return any(s.has_decryption_key(address) for s in self.sources)

    def has_certificate(self, address: str) -> bool:
        return any(s.has_certificate(address) for s in self.sources)


__all__ = ["EitherFacts", "Envelope", "Facts", "MessageFacts", "StaticFacts"]

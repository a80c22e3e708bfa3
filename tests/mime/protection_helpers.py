"""A message with every field RFC 9788 protects (and a Bcc that must never be copied), and small parsers."""

from __future__ import annotations

import email
import email.policy
from email.message import Message

from mailseal.mime import Entity
from mailseal.mime.signed import parse_multipart_signed

PROTECTED = {
    "From": "Alice <alice@example.org>",
    "To": "Bob <bob@example.org>",
    "Cc": "Carol <carol@example.org>",
    "Reply-To": "alice+replies@example.org",
    "Subject": "The Jones contract",
    "Date": "Sat, 28 Nov 2026 10:00:00 +0000",
    "Message-ID": "<hp-1@example.org>",
    "In-Reply-To": "<hp-0@example.org>",
    "References": "<hp-0@example.org>",
    "Followup-To": "poster",
}
BCC = "Dave <dave-hidden@example.org>"

MESSAGE = (
    "".join(f"{name}: {value}\r\n" for name, value in PROTECTED.items())
    + f"Bcc: {BCC}\r\nX-Mailer: mailseal tests\r\nMIME-Version: 1.0\r\n"
    + "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\nthe figures are attached.\r\n"
).encode()


def header_block(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def signed_part(signed: bytes) -> bytes:
    """The first part of a multipart/signed message, exactly as signed."""
    return parse_multipart_signed(Entity.parse(signed)).content.read()


def parse(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=email.policy.compat32)

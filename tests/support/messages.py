"""A test message and the helpers that turn test users into signing identities, shared by the test groups."""

from __future__ import annotations

from mailseal import Identity
from tests.support.testpki import User

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Test message\r\n"
    b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <t1@example.org>\r\n"
    b"\r\n"
    b"Hello Bob,\r\nthis is a test.\r\n"
)


def ident(user: User) -> Identity:
    return Identity(user.key, user.cert, tuple(user.chain))  # type: ignore[arg-type]


def message_from(address: str, body: bytes = b"Hello.\r\n", extra: bytes = b"") -> bytes:
    return f"From: {address}\r\nTo: bob@example.org\r\nSubject: t\r\n".encode() + extra + b"\r\n" + body

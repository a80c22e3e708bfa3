"""Messages to protect and open, and the check that what decrypt/open write is a complete message (issue 12).

A decrypted or opened message must be a well-formed top-level entity: exactly one ``MIME-Version`` (RFC 2045 §4),
the outer fields (From, To, Subject, Date, Message-ID) once each, and the inner entity's Content-* fields rather
than the ``application/pkcs7-mime`` ones of the layer that was removed.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from collections.abc import Callable

from mailseal import Identity, api
from tests.support.testpki import User

#: the kinds of content tested, with the media type a reader must see at the top
KINDS = {"text": "text/plain", "html": "text/html", "mixed": "multipart/mixed"}
OUTER_FIELDS = ("from", "to", "subject", "date", "message-id")
ATTACHMENT = bytes(range(256)) * 4


def build(kind: str, sender: str, recipient: str, subject: str = "quarterly figures") -> bytes:
    """A message of the kind (text, html or mixed with a binary attachment) from ``sender``; CRLF line ends."""
    msg = email.message.EmailMessage()
    msg["From"] = f"Sender <{sender}>"
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = "Sat, 05 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<{kind}.opened@example.org>"
    if kind == "text":
        msg.set_content("The figures are attached in spirit.\n")
    elif kind == "html":
        msg.set_content("<html><body><p>The <b>figures</b>.</p></body></html>\n", subtype="html")
    else:
        msg.set_content("The figures are attached.\n")
        msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="figures.bin")
    return msg.as_bytes(policy=email.policy.SMTP)


def identity(user: User) -> Identity:
    return Identity(user.key, user.cert, tuple(user.chain))  # type: ignore[arg-type]


#: how a message is protected: its name -> (message, signer, recipient certificate) -> protected message
WRAPPINGS: dict[str, Callable[[bytes, User, User], bytes]] = {
    "encrypted": lambda m, s, r: api.encrypt(m, [r.cert]),
    "opaque-signed-in-encrypted": lambda m, s, r: api.encrypt(api.sign(m, identity(s), opaque=True), [r.cert]),
    "clear-signed-in-encrypted": lambda m, s, r: api.encrypt(api.sign(m, identity(s)), [r.cert]),
}


def header_fields(data: bytes) -> list[tuple[str, str]]:
    """The top-level header fields as (lower-case name, unfolded value), read from the bytes themselves."""
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0].decode("utf-8", "replace")
    fields: list[tuple[str, str]] = []
    for line in re.split(r"\r?\n", head):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
        else:
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value.strip()))
    return fields


def assert_complete(data: bytes, content_type: str, original: bytes | None = None) -> email.message.EmailMessage:
    """The checks every decrypted or opened message passes; returns it parsed with the modern policy."""
    fields = header_fields(data)
    names = [name for name, _ in fields]
    assert names.count("mime-version") == 1, f"MIME-Version {names.count('mime-version')} times in {names}"
    assert dict(fields)["mime-version"].startswith("1.0")
    for name in OUTER_FIELDS:
        assert names.count(name) == 1, f"{name} {names.count(name)} times in {names}"
    [ctype] = [value for name, value in fields if name == "content-type"]
    assert "pkcs7-mime" not in ctype.lower() or content_type == "application/pkcs7-mime"
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    assert not [d for d in msg.defects], msg.defects
    assert msg.get_content_type() == content_type
    if original is not None:
        want = email.message_from_bytes(original, policy=email.policy.default)
        for name in ("From", "To", "Subject", "Date", "Message-ID"):
            assert str(msg[name]) == str(want[name])
    if content_type == "multipart/mixed":
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "application/octet-stream"]
        assert parts[1].get_content() == ATTACHMENT  # type: ignore[attr-defined]
        assert parts[1].get_filename() == "figures.bin"
    elif content_type.startswith("text/"):
        assert "figures" in msg.get_content()
    return msg


__all__ = ["KINDS", "WRAPPINGS", "assert_complete", "build", "header_fields", "identity"]

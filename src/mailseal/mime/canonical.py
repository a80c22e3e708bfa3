"""Canonical form before signing (RFC 8551 §3.1): CRLF line ends and 7-bit transfer encodings."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message

from .entity import Entity

_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
MAX_LINE = 998  # RFC 5322 §2.1.1


def to_crlf(data: bytes) -> bytes:
    """Turn bare LF and bare CR into CRLF (RFC 8551 §3.1.1 canonical text)."""
    if b"\n" not in data and b"\r" not in data:
        return data
    return _BARE_CR.sub(b"\r\n", _BARE_LF.sub(b"\r\n", data))


def has_bare_lf(data: bytes) -> bool:
    return _BARE_LF.search(data) is not None


def is_seven_bit(data: bytes) -> bool:
    """True when every byte is 7-bit, there is no NUL, and no line exceeds 998 octets."""
    if not data.isascii() or b"\x00" in data:
        return False
    return all(len(line) <= MAX_LINE for line in data.split(b"\r\n"))


def _seven_bit_leaf(part: Message) -> None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return
    cte = (part.get("Content-Transfer-Encoding") or "7bit").lower()
    if cte in ("base64", "quoted-printable") or is_seven_bit(to_crlf(payload)):
        return
    del part["Content-Transfer-Encoding"]
    if part.get_content_maintype() == "text":
        # RFC 8551 §3.1.2: 8-bit text is sent as quoted-printable so that relays cannot alter it.
        import quopri

        body = quopri.encodestring(to_crlf(payload))
        part.set_payload(to_crlf(body))
        part["Content-Transfer-Encoding"] = "quoted-printable"
    else:
        import base64

        encoded = base64.encodebytes(payload)
        part.set_payload(encoded)
        part["Content-Transfer-Encoding"] = "base64"


def default_content_type(body: bytes) -> bytes:
    """RFC 2045 §5.2 default, but 8-bit bodies that are UTF-8 say so rather than claim US-ASCII."""
    if not body.isascii():
        try:
            body.decode("utf-8")
            return b"Content-Type: text/plain; charset=utf-8"
        except UnicodeDecodeError:
            return b"Content-Type: application/octet-stream"
    return b"Content-Type: text/plain; charset=us-ascii"


def canonical_entity(entity: Entity) -> bytes:
    """The content entity (Content-* fields + body) in canonical 7-bit CRLF form, ready to sign or encrypt."""
    lines = entity.content_lines() or [default_content_type(entity.body)]
    raw = b"".join(line + b"\r\n" for line in lines) + b"\r\n" + entity.body
    crlf = to_crlf(raw)
    if is_seven_bit(crlf):
        return crlf
    msg = email.message_from_bytes(crlf, policy=email.policy.compat32)
    for part in msg.walk():
        if not part.is_multipart():
            _seven_bit_leaf(part)
    out = msg.as_bytes(policy=email.policy.SMTP.clone(max_line_length=MAX_LINE))
    return to_crlf(out)


__all__ = ["canonical_entity", "default_content_type", "has_bare_lf", "is_seven_bit", "to_crlf"]

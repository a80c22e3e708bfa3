"""Raw MIME entities: split headers from body on the received bytes, read header fields and parameters (RFC 2045)."""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import email.policy
import io
import re
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import LimitExceededError, MalformedMIMEError

MAX_MESSAGE_SIZE = 1 << 30  # 1 GiB; larger input is refused rather than exhausting memory.
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")


MessageInput = bytes | bytearray | memoryview | email.message.Message | BinaryIO


def read_input(message: MessageInput) -> bytes:
    """Accept bytes, an ``email.message.Message`` or a binary file object; return the raw bytes."""
    if isinstance(message, bytes | bytearray | memoryview):
        data = bytes(message)
    elif isinstance(message, email.message.Message):
        data = message.as_bytes(policy=email.policy.SMTP)
    elif hasattr(message, "read"):
        data = message.read(MAX_MESSAGE_SIZE + 1)
        if not isinstance(data, bytes):
            raise TypeError("the file must be opened in binary mode")
    else:
        raise TypeError(f"expected bytes, email.message.Message or a binary file, not {type(message).__name__}")
    if len(data) > MAX_MESSAGE_SIZE:
        raise LimitExceededError(f"the message is larger than {MAX_MESSAGE_SIZE} bytes")
    return data


@dataclass(frozen=True)
class Entity:
    """A MIME entity as received: header lines (with folding kept) and the body bytes."""

    header_lines: tuple[bytes, ...]  # each a complete field, continuation lines included, no final line end
    body: bytes
    newline: bytes

    @classmethod
    def parse(cls, data: bytes) -> Entity:
        if not data.strip():
            raise MalformedMIMEError("the message is empty")
        newline = b"\r\n" if b"\r\n" in data[:4096] or b"\n" not in data[:4096] else b"\n"
        if data.startswith((b"\r\n", b"\n")):
            head, body = b"", data[2 if data.startswith(b"\r\n") else 1 :]
        else:
            m = _HEADER_END.search(data)
            if m is None:
                head, body = data, b""
            else:
                head, body = data[: m.start()], data[m.end() :]
        lines: list[bytes] = []
        for raw in re.split(rb"\r?\n", head) if head else []:
            if raw[:1] in (b" ", b"\t") and lines:
                lines[-1] += b"\r\n" + raw
            elif _FIELD.match(raw):
                lines.append(raw)
            elif raw.startswith(b"From ") and not lines:
                continue  # an mbox "From " separator line
            else:
                raise MalformedMIMEError("the message header is malformed (a line is not a header field)")
        return cls(tuple(lines), body, newline)

    @classmethod
    def parse_content(cls, data: bytes) -> Entity:
        """An unwrapped layer's content. RFC 2045 allows an entity without header fields (RFC 4134 §5.3 has
        one): content whose first line is not a header field is a body with the default type."""
        first = data.split(b"\n", 1)[0].rstrip(b"\r")
        if not data.strip() or not (_FIELD.match(first) or first == b""):
            return cls((), data, b"\r\n")
        return cls.parse(data)

    def fields(self, name: str) -> list[str]:
        """Values of every field with this name, unfolded, decoded as text."""
        wanted = name.lower().encode()
        out = []
        for line in self.header_lines:
            key, _, value = line.partition(b":")
            if key.strip().lower() == wanted:
                out.append(re.sub(r"\r?\n[ \t]", " ", value.decode("utf-8", "replace")).strip())
        return out

    def field(self, name: str) -> str | None:
        values = self.fields(name)
        return values[0] if values else None

    def content_type(self) -> tuple[str, dict[str, str]]:
        """The media type (lower case) and parameters; RFC 2045 §5.2 default text/plain."""
        raw = self.field("Content-Type")
        if raw is None:
            return "text/plain", {"charset": "us-ascii"}
        msg = email.message.Message()
        msg["Content-Type"] = raw
        ctype = msg.get_content_type()
        params = {k.lower(): str(v) for k, v in (msg.get_params() or [])[1:]}
        return ctype, params

    def transfer_encoding(self) -> str:
        return (self.field("Content-Transfer-Encoding") or "7bit").strip().lower()

    def filename(self) -> str | None:
        msg = email.message.Message()
        for name in ("Content-Type", "Content-Disposition"):
            value = self.field(name)
            if value is not None:
                msg[name] = value
        return msg.get_filename() or msg.get_param("name")  # type: ignore[return-value]

    def decoded_body(self) -> bytes:
        """The body with its Content-Transfer-Encoding removed; corrupt base64 is an error, not a guess."""
        cte = self.transfer_encoding()
        if cte == "base64":
            compact = re.sub(rb"[ \t\r\n]", b"", self.body)
            try:
                return base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedMIMEError("the base64 body is corrupt or truncated") from None
        if cte == "quoted-printable":
            import quopri

            return quopri.decodestring(self.body)
        if cte in ("7bit", "8bit", "binary", ""):
            return self.body
        raise MalformedMIMEError(f"unknown Content-Transfer-Encoding {cte!r}")

    def is_content_field(self, line: bytes) -> bool:
        key = line.partition(b":")[0].strip().lower()
        return key.startswith(b"content-") or key == b"mime-version"

    def outer_lines(self) -> list[bytes]:
        """Header fields that describe the message rather than its content (From, To, Subject, ...)."""
        return [ln for ln in self.header_lines if not self.is_content_field(ln)]

    def content_lines(self) -> list[bytes]:
        return [ln for ln in self.header_lines if self.is_content_field(ln) and not ln.lower().startswith(b"mime-")]

    def to_bytes(self) -> bytes:
        head = b"".join(line + b"\r\n" for line in self.header_lines)
        return head + b"\r\n" + self.body


def as_stream(data: bytes) -> BinaryIO:
    return io.BytesIO(data)


__all__ = ["MAX_MESSAGE_SIZE", "Entity", "MessageInput", "as_stream", "read_input"]

"""Raw MIME entities: split headers from body on the received bytes, read header fields and parameters (RFC 2045)."""

from __future__ import annotations

import binascii
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Union, cast

from ..errors import LimitExceededError, MalformedMIMEError
from ..limits import DEFAULT_LIMITS, Limits
from ..streamio import (
    Base64Source,
    Region,
    Source,
    decode_base64,
    decode_base64_chunks,
    region_of,
)

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_FOLD = re.compile(r"\r?\n[ \t]")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")
# type/subtype followed by simple parameters; anything fancier (RFC 2231, comments) goes through email.
_SIMPLE_CTYPE = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+/[!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*((?:;\s*[^=;\s]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;\s"]*)\s*)*);?\s*')
_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s"]*)')


if TYPE_CHECKING:
    import email.message

# The email package is imported only where it is used: it costs ~25 ms of every command's start-up.
MessageInput = Union[bytes, bytearray, memoryview, "email.message.Message", BinaryIO]
MAX_HEADER = DEFAULT_LIMITS.max_header_size  # the default; limits.py
MAX_IN_MEMORY = 256 << 20  # parts read whole (signatures, small layers) are capped



def input_region(message: MessageInput) -> Region:
    """The message as a Region: bytes in memory, a seekable file in place, anything else spooled."""
    module = sys.modules.get("email.message")  # a Message can exist only if its module was imported
    if module is not None and isinstance(message, module.Message):
        import email.policy

        return Region.of_bytes(message.as_bytes(policy=email.policy.SMTP))
    if isinstance(message, bytes | bytearray | memoryview) or hasattr(message, "read"):
        return region_of(cast("bytes | BinaryIO", message))
    raise TypeError(f"expected bytes, email.message.Message or a binary file, not {type(message).__name__}")


def _header_lines(head: bytes, limits: Limits = DEFAULT_LIMITS) -> list[bytes]:
    lines = _split_header(head)
    if len(lines) > limits.max_header_fields:
        raise LimitExceededError(f"the header has {len(lines)} fields; the limit is {limits.max_header_fields} "
                                 "(limits.max_header_fields)")
    longest = max(map(len, lines), default=0)
    if longest > limits.max_header_line:
        raise LimitExceededError(f"a header field is {longest} bytes long; the limit is {limits.max_header_line} "
                                 "(limits.max_header_line)")
    return lines


def _split_header(head: bytes) -> list[bytes]:
    lines: list[bytes] = []
    if not head:
        return lines
    # CRLF throughout (the usual case) splits with a bytes method; mixed line ends need the pattern.
    crlf = head.count(b"\n") == head.count(b"\r\n") and head.count(b"\r") == head.count(b"\n")
    for raw in head.split(b"\r\n") if crlf else _LINE_END.split(head):
        if raw[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\r\n" + raw
        elif _FIELD.match(raw):
            lines.append(raw)
        elif raw.startswith(b"From ") and not lines:
            continue  # an mbox "From " separator line
        else:
            raise MalformedMIMEError("the message header is malformed (a line is not a header field)")
    return lines


@dataclass(frozen=True)
class Entity:
    """A MIME entity as received: header lines (with folding kept) and the body bytes."""

    header_lines: tuple[bytes, ...]  # each a complete field, continuation lines included, no final line end
    region: Region  # the body, as received

    @classmethod
    def parse(cls, data: bytes) -> Entity:
        return cls.from_region(Region.of_bytes(data))

    @classmethod
    def from_region(cls, region: Region, limits: Limits = DEFAULT_LIMITS) -> Entity:
        """Split the header block from the body without reading the body; ``LimitExceededError`` past the header
        limits (size of the block, number of fields, length of one field)."""
        head = region.read(0, limits.max_header_size + 4)
        if not head.strip():
            raise MalformedMIMEError("the message is empty")
        if head.startswith((b"\r\n", b"\n")):
            return cls((), region.sub(2 if head.startswith(b"\r\n") else 1))
        m = _HEADER_END.search(head)
        if m is None:
            if region.size > limits.max_header_size:
                raise LimitExceededError(f"the header block is larger than {limits.max_header_size} bytes "
                                         "(limits.max_header_size)")
            return cls(tuple(_header_lines(head, limits)), region.sub(region.size))
        return cls(tuple(_header_lines(head[: m.start()], limits)), region.sub(m.end()))

    @classmethod
    def parse_content(cls, data: bytes) -> Entity:
        return cls.content_from_region(Region.of_bytes(data))

    @classmethod
    def content_from_region(cls, region: Region, limits: Limits = DEFAULT_LIMITS) -> Entity:
        """An unwrapped layer's content. RFC 2045 allows an entity without header fields (RFC 4134 §5.3 has
        one): content whose first line is not a header field is a body with the default type."""
        head = region.read(0, 4096)
        first = head.split(b"\n", 1)[0].rstrip(b"\r")
        if not head.strip() or not (_FIELD.match(first) or first == b""):
            return cls((), region)
        return cls.from_region(region, limits)

    @property
    def body(self) -> bytes:
        """The whole body in memory (small entities only)."""
        return self.region.read_all(MAX_IN_MEMORY)

    def fields(self, name: str) -> list[str]:
        """Values of every field with this name, unfolded, decoded as text."""
        index = self.__dict__.get("_field_index")
        if index is None:
            # One pass over the header, kept: an entity is asked for several fields (type, encoding, From, ...).
            index = {}
            for line in self.header_lines:
                key, _, value = line.partition(b":")
                index.setdefault(key.strip().lower(), []).append(value)
            self.__dict__["_field_index"] = index  # frozen dataclass: memoise without __setattr__
        out = []
        for value in index.get(name.lower().encode(), ()):
            text = value.decode("utf-8", "replace")
            out.append((_FOLD.sub(" ", text) if "\n" in text else text).strip())
        return out

    def field(self, name: str) -> str | None:
        values = self.fields(name)
        return values[0] if values else None

    def content_type(self) -> tuple[str, dict[str, str]]:
        """The media type (lower case) and parameters; RFC 2045 §5.2 default text/plain."""
        cached = self.__dict__.get("_content_type")
        if cached is None:
            cached = self._parse_content_type()
            self.__dict__["_content_type"] = cached  # frozen dataclass: memoise without __setattr__
        return cached[0], dict(cached[1])

    def _parse_content_type(self) -> tuple[str, dict[str, str]]:
        raw = self.field("Content-Type")
        if raw is None:
            return "text/plain", {"charset": "us-ascii"}
        simple = _SIMPLE_CTYPE.fullmatch(raw)
        if simple and "*" not in raw and "(" not in raw:
            params = {k.lower(): v[1:-1].replace('\\"', '"') if v.startswith('"') else v
                      for k, v in _PARAM.findall(simple.group(2))}
            return simple.group(1).lower(), params
        import email.message
        import email.utils

        msg = email.message.Message()
        msg["Content-Type"] = raw
        ctype = msg.get_content_type()
        params = {k.lower(): str(email.utils.collapse_rfc2231_value(v)) for k, v in (msg.get_params() or [])[1:]}
        return ctype, params

    def transfer_encoding(self) -> str:
        return (self.field("Content-Transfer-Encoding") or "7bit").strip().lower()

    def filename(self) -> str | None:
        import email.message

        msg = email.message.Message()
        for name in ("Content-Type", "Content-Disposition"):
            value = self.field(name)
            if value is not None:
                msg[name] = value
        return msg.get_filename() or msg.get_param("name")  # type: ignore[return-value]

    def decoded_chunks(self) -> Iterator[bytes]:
        """The body with its Content-Transfer-Encoding removed, in chunks (base64 streams; others are small)."""
        cte = self.transfer_encoding()
        if cte == "base64":
            try:
                yield from decode_base64_chunks(self.region.chunks())
            except (binascii.Error, ValueError):
                raise MalformedMIMEError("the base64 body is corrupt or truncated") from None
        elif cte in ("7bit", "8bit", "binary", ""):
            yield from self.region.chunks()
        else:
            yield self.decoded_body()

    def decoded_source(self) -> Source:
        """The decoded body as a re-readable source: the body itself, or base64 decoded on the fly."""
        cte = self.transfer_encoding()
        if cte in ("7bit", "8bit", "binary", ""):
            return self.region
        if cte == "base64":
            return Base64Source(self.region)
        return Region.of_bytes(self.decoded_body())

    def decoded_body(self) -> bytes:
        """The body with its Content-Transfer-Encoding removed; corrupt base64 is an error, not a guess."""
        cte = self.transfer_encoding()
        if cte == "base64":
            try:
                return decode_base64(self.body)
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

    def header_bytes(self) -> bytes:
        return b"".join(line + b"\r\n" for line in self.header_lines) + b"\r\n"

    def line_end(self) -> bytes:
        """The line end the entity came with: LF for one saved with bare LF line ends, CRLF otherwise.

        Read from the blank line that ends the header (the two octets before the body), or for an entity without
        header fields from the body's first line end.
        """
        region = self.region
        if self.header_lines and region.start >= 2:
            before = Region(region.file, region.start - 2, region.start).read()
            return b"\n" if before.endswith(b"\n") and not before.endswith(b"\r\n") else b"\r\n"
        head = region.read(0, 4096)
        nl = head.find(b"\n")
        return b"\n" if nl >= 0 and head[nl - 1: nl] != b"\r" else b"\r\n"

    def to_bytes(self) -> bytes:
        return self.header_bytes() + self.body

    def chunks(self) -> Iterator[bytes]:
        """The entity (header block and body) in chunks."""
        yield self.header_bytes()
        yield from self.region.chunks()


__all__ = ["Entity", "MessageInput", "input_region"]

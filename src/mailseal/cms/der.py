"""Hand-built DER/BER for the hot paths (X.690 §8): TLV encoding, indefinite-length framing, a streaming reader."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple, Protocol

from ..errors import LimitExceededError, MalformedCMSError

SEQUENCE = 0x30
SET = 0x31
OCTET_STRING = 0x04
OCTET_STRING_CONSTRUCTED = 0x24
CONTEXT_0 = 0xA0  # [0] constructed
CONTEXT_0_PRIMITIVE = 0x80  # [0] primitive
INDEFINITE = b"\x80"
EOC = b"\x00\x00"
MAX_SMALL_TLV = 64 << 20  # headers, certificates and signer infos are read whole up to this size


def length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length_bytes(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """DER SET OF: elements sorted by their encodings (X.690 §11.6)."""
    return tlv(SET, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, raw)


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


@lru_cache(maxsize=512)
def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for value in parts[2:]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def indefinite(tag: int) -> bytes:
    return bytes([tag]) + INDEFINITE


def octet_chunks(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """Primitive OCTET STRING segments of a constructed (BER) OCTET STRING."""
    for i in range(0, len(data), size):
        yield octet_string(data[i : i + size])


def elements(data: bytes, start: int = 0, end: int | None = None) -> list[bytes]:
    """The consecutive DER elements in data[start:end], as their bytes (definite lengths only)."""
    end = len(data) if end is None else end
    out = []
    pos = start
    while pos < end:
        stop = _definite_end(data, pos)
        if stop > end:
            raise MalformedCMSError("an element runs past the end of its container")
        out.append(data[pos:stop])
        pos = stop
    return out


def _content_start(data: bytes, offset: int = 0) -> int:
    """Where the content of the TLV at offset starts: the short-form fast path of parse_header."""
    if offset + 2 <= len(data) and data[offset + 1] < 0x80 and data[offset] & 0x1F != 0x1F:
        return offset + 2
    return parse_header(data, offset)[1]


def _definite_end(data: bytes, offset: int) -> int:
    """The end of the definite-length TLV at offset (the hot path of small structures: no Header object)."""
    if offset + 2 <= len(data) and data[offset] & 0x1F != 0x1F:
        first = data[offset + 1]
        if first < 0x80:
            return offset + 2 + first
        if 0x81 <= first <= 0x82 and offset + 4 <= len(data):
            return offset + 2 + (first & 0x7F) + int.from_bytes(data[offset + 2 : offset + 2 + (first & 0x7F)], "big")
    header, content = parse_header(data, offset)
    if header.length is None:
        raise MalformedCMSError("indefinite length where DER is required")
    return content + header.length


def children(tlv: bytes) -> list[bytes]:
    """The elements inside a constructed DER element."""
    return elements(tlv, _content_start(tlv))


def content_of(tlv: bytes) -> bytes:
    return tlv[_content_start(tlv) :]


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Header(NamedTuple):
    tag: int
    length: int | None  # None: indefinite
    header_bytes: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def parse_header(data: bytes, offset: int = 0) -> tuple[Header, int]:
    """Parse one TLV header from bytes; returns the header and the offset of its content."""
    if offset + 2 > len(data):
        raise MalformedCMSError("the CMS structure is truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise MalformedCMSError("high-tag-number form is not used by CMS")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length: int | None = first
    elif first == 0x80:
        if not tag & 0x20:
            raise MalformedCMSError("indefinite length on a primitive encoding")
        length = None
    else:
        count = first & 0x7F
        if count > 8 or pos + count > len(data):
            raise MalformedCMSError("the CMS structure has an invalid length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return Header(tag, length, data[offset:pos]), pos


class BerReader:
    """Reads BER from a binary stream one TLV at a time, without ever holding a large value whole."""

    def __init__(self, stream: Readable, limit: int | None = None) -> None:
        self._stream = stream
        self._buffer = b""
        self._pos = 0  # read position in _buffer: taking bytes never copies the rest of the buffer
        self._consumed = 0
        self._limit = limit

    @property
    def position(self) -> int:
        return self._consumed

    def _fill(self, n: int) -> bool:
        available = len(self._buffer) - self._pos
        if available >= n:
            return True
        parts = [self._buffer[self._pos :]]
        while available < n:
            more = self._stream.read(max(n - available, 1 << 16))
            if not more:
                self._buffer, self._pos = b"".join(parts), 0
                return False
            parts.append(more)
            available += len(more)
        self._buffer, self._pos = b"".join(parts), 0
        return True

    def at_eof(self) -> bool:
        return not self._fill(1)

    def peek_tag(self) -> int | None:
        return self._buffer[self._pos] if self._fill(1) else None

    def header(self) -> Header:
        buf, pos = self._buffer, self._pos
        if pos + 6 <= len(buf) and buf[pos] & 0x1F != 0x1F:  # the common case, without parse_header
            first = buf[pos + 1]
            if first < 0x80:
                self._pos = pos + 2
                self._consumed += 2
                return Header(buf[pos], first, buf[pos : pos + 2])
            if 0x81 <= first <= 0x84:
                end = pos + 2 + (first & 0x7F)
                self._pos = end
                self._consumed += end - pos
                return Header(buf[pos], int.from_bytes(buf[pos + 2 : end], "big"), buf[pos:end])
        if not self._fill(2):
            raise MalformedCMSError("the CMS structure is truncated")
        first = self._buffer[self._pos + 1]
        need = 2 + (first & 0x7F if first > 0x80 else 0)
        if not self._fill(need):
            raise MalformedCMSError("the CMS structure is truncated")
        header, pos = parse_header(self._buffer, self._pos)
        self._take(pos - self._pos)
        return header

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise MalformedCMSError("the CMS structure is truncated")
        data = self._buffer[self._pos : self._pos + n]
        self._pos += n
        self._consumed += n
        return data

    def read(self, n: int) -> bytes:
        if n > MAX_SMALL_TLV:
            raise LimitExceededError(f"a CMS element of {n} bytes exceeds the in-memory limit")
        return self._take(n)

    def end_of_contents(self) -> bool:
        """Consume an end-of-contents marker if one is next."""
        if self._fill(2) and self._buffer[self._pos : self._pos + 2] == EOC:
            self._take(2)
            return True
        return False

    def expect_eoc(self) -> None:
        if not self.end_of_contents():
            raise MalformedCMSError("an indefinite-length CMS element is not closed")

    def element(self) -> bytes:
        """A whole TLV (small elements: certificates, algorithm identifiers, signer infos), BER or DER."""
        header = self.header()
        if header.length is not None:
            return header.header_bytes + self.read(header.length)
        parts = [header.header_bytes]
        while not self.end_of_contents():
            parts.append(self.element())
            if sum(map(len, parts)) > MAX_SMALL_TLV:
                raise LimitExceededError("an indefinite-length CMS element exceeds the in-memory limit")
        parts.append(EOC)
        return b"".join(parts)

    def octets(self, header: Header) -> Iterator[bytes]:
        """The content of an OCTET STRING (or [n] IMPLICIT OCTET STRING), primitive or constructed, in chunks."""
        if not header.constructed:
            assert header.length is not None
            remaining = header.length
            while remaining:
                piece = self._take(min(remaining, 1 << 20))
                remaining -= len(piece)
                yield piece
            return
        if header.length is None:
            while not self.end_of_contents():
                yield from self.octets(self.header())
            return
        end = self._consumed + header.length
        while self._consumed < end:
            yield from self.octets(self.header())


__all__ = [
    "CONTEXT_0",
    "EOC",
    "OCTET_STRING",
    "BerReader",
    "Header",
    "children",
    "content_of",
    "elements",
    "indefinite",
    "integer",
    "length_bytes",
    "octet_chunks",
    "octet_string",
    "oid",
    "parse_header",
    "seq",
    "set_of",
    "tlv",
]

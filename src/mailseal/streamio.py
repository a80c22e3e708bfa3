"""Bounded-memory byte streams: file regions, spooling, base64 and CRLF canonical form in chunks (RFC 2045 §6.8)."""

from __future__ import annotations

import binascii
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pybase64

from .errors import LimitExceededError, MalformedMIMEError

CHUNK = 1 << 20  # 1 MiB: large enough for C-speed primitives, small enough to bound memory.
SPOOL_IN_MEMORY = 8 << 20  # Temporary data up to 8 MiB stays in memory, larger goes to disk.
MAX_LINE = 998  # RFC 5322 §2.1.1


def spool() -> BinaryIO:
    """A temporary binary file that stays in memory while small."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b")  # type: ignore[return-value]


@dataclass(frozen=True)
class Region:
    """A byte range [start, end) of a seekable binary file: a message, a part of it, or a decoded layer."""

    file: BinaryIO
    start: int
    end: int

    @classmethod
    def of_bytes(cls, data: bytes) -> Region:
        return cls(io.BytesIO(data), 0, len(data))

    @property
    def size(self) -> int:
        return self.end - self.start

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        size = size or CHUNK  # read at call time, so tests can force tiny chunks
        pos = self.start
        while pos < self.end:
            self.file.seek(pos)
            data = self.file.read(min(size, self.end - pos))
            if not data:
                break
            pos += len(data)
            yield data

    def read(self, offset: int = 0, length: int | None = None) -> bytes:
        """Read ``length`` bytes from ``offset`` (relative); the whole rest when length is None."""
        begin = self.start + offset
        stop = self.end if length is None else min(self.end, begin + length)
        self.file.seek(begin)
        return self.file.read(max(0, stop - begin))

    def read_all(self, limit: int) -> bytes:
        if self.size > limit:
            raise LimitExceededError(f"a part of {self.size} bytes exceeds the in-memory limit of {limit} bytes")
        return self.read()

    def sub(self, start: int, end: int | None = None) -> Region:
        """A region relative to this one."""
        stop = self.end if end is None else self.start + end
        return Region(self.file, self.start + start, min(stop, self.end))

    def open(self) -> RegionReader:
        """A fresh reader from the start of the region."""
        return RegionReader(self)

    def head(self, n: int) -> bytes:
        return self.read(0, n)

    def find(self, needle: bytes, start: int = 0) -> int:
        """Offset (relative) of the first occurrence of needle at or after start, or -1; scans in chunks."""
        overlap = len(needle) - 1
        pos = start
        while pos < self.size:
            block = self.read(pos, CHUNK + overlap)
            hit = block.find(needle)
            if hit >= 0:
                return pos + hit
            if len(block) <= overlap:
                break
            pos += len(block) - overlap
        return -1


class RegionReader:
    """A read()-only stream over a Region, starting at its beginning."""

    def __init__(self, region: Region) -> None:
        self._region = region
        self._pos = 0

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            n = self._region.size - self._pos
        data = self._region.read(self._pos, n)
        self._pos += len(data)
        return data


class JoinedFile(io.RawIOBase):
    """A read-only, seekable file made of byte strings and Regions one after the other, without copying them:
    e.g. an edited header before a message's body, handed to the signer as one message. Every read is filled
    across the parts (a short read only at the end)."""

    def __init__(self, parts: Iterable[bytes | Region]) -> None:
        super().__init__()
        self._parts = [Region.of_bytes(p) if isinstance(p, bytes) else p for p in parts]
        self._starts: list[int] = []
        total = 0
        for part in self._parts:
            self._starts.append(total)
            total += part.size
        self._size = total
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        for part, start in zip(self._parts, self._starts, strict=True):
            if filled == len(view) or self._pos >= self._size:
                break
            if not start <= self._pos < start + part.size:
                continue
            data = part.read(self._pos - start, len(view) - filled)
            view[filled:filled + len(data)] = data
            filled += len(data)
            self._pos += len(data)
        return filled


class BackgroundWriter:
    """Writes to a file from a second thread, so that encoding the next chunk overlaps the disk write of the last
    (file writes release the GIL). At most ``depth`` chunks wait; an error in the thread surfaces on the next call."""

    def __init__(self, sink: BinaryIO, depth: int = 2) -> None:
        import queue
        import threading

        self._sink = sink
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mailseal-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            try:
                if data is None:
                    return
                if self._error is None:
                    try:
                        self._sink.write(data)
                    except BaseException as exc:
                        self._error = exc
            finally:
                self._queue.task_done()

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        if data:
            self._queue.put(bytes(data))
        return len(data)

    def _drain(self) -> None:
        self._queue.join()
        if self._error is not None:
            raise self._error

    def seekable(self) -> bool:
        return _rewindable(self._sink)

    def tell(self) -> int:
        self._drain()
        return self._sink.tell()

    def truncate_to(self, position: int) -> None:
        """Throw away everything written after ``position`` (a value from tell()); writing goes on from there."""
        self._drain()
        truncate_to(self._sink, position)

    def close(self) -> None:
        """Wait for every pending write; raise the thread's error if there was one."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _rewindable(sink: object) -> bool:
    """A seekable, truncatable sink that is a regular file or in memory (not a device such as /dev/null)."""
    try:
        if not (sink.seekable() and hasattr(sink, "truncate")):  # type: ignore[attr-defined]
            return False
        if isinstance(sink, tempfile.SpooledTemporaryFile):
            return True  # memory or a temporary file (fileno() would move it to disk)
        fd = sink.fileno()  # type: ignore[attr-defined]
    except (io.UnsupportedOperation, AttributeError):
        return isinstance(sink, io.BytesIO)
    except (ValueError, OSError):
        return False
    return stat.S_ISREG(os.fstat(fd).st_mode)


def rewindable(sink: object) -> bool:
    """Whether what was written to ``sink`` after a tell() can be taken back (a file or BytesIO, not a pipe)."""
    if isinstance(sink, BackgroundWriter):
        return sink.seekable()
    return _rewindable(sink)


def truncate_to(sink: BinaryIO | BackgroundWriter, position: int) -> None:
    """Cut ``sink`` back to ``position`` and go on writing from there."""
    if isinstance(sink, BackgroundWriter):
        sink.truncate_to(position)
        return
    sink.seek(position)
    sink.truncate()


class BackgroundHash:
    """Feeds a hash from a second thread (hashlib releases the GIL on large updates), so hashing a chunk overlaps
    whatever the caller does next with it. At most ``depth`` chunks wait."""

    def __init__(self, h: Any, depth: int = 4) -> None:
        import queue
        import threading

        self.hash = h
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._thread = threading.Thread(target=self._run, name="mailseal-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self.hash.update(data)

    def update(self, data: bytes) -> None:
        self._queue.put(data)

    def close(self) -> Any:
        """Wait until every chunk has been hashed; the hash object."""
        self._queue.put(None)
        self._thread.join()
        return self.hash


class IterReader:
    """A read()-only stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, n: int = -1, /) -> bytes:
        while n < 0 or len(self._buffer) < n:
            more = next(self._chunks, None)
            if more is None:
                break
            self._buffer += more
        if n < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data


class Base64Source:
    """The decoding of a base64 Region, re-readable from the start without being stored anywhere."""

    SMALL = 1 << 16  # a body this small is decoded once and kept: it is read several times (kind, then content)

    def __init__(self, region: Region) -> None:
        self.region = region
        self._decoded: bytes | None = None

    def open(self) -> IterReader | io.BytesIO:
        if self.region.size <= self.SMALL:
            if self._decoded is None:
                self._decoded = b"".join(decode_base64_chunks(self.region.chunks()))
            return io.BytesIO(self._decoded)
        return IterReader(decode_base64_chunks(self.region.chunks()))

    def head(self, n: int) -> bytes:
        return self.open().read(n)


Source = Region | Base64Source


def region_of(source: bytes | bytearray | memoryview | BinaryIO) -> Region:
    """A Region over bytes or a binary file; a non-seekable stream is spooled first (bounded memory)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return Region.of_bytes(bytes(source))
    try:
        start = source.tell()
        source.seek(0, os.SEEK_END)
        end = source.tell()
        source.seek(start)
        return Region(source, start, end)
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    tmp = spool()
    size = 0
    while chunk := source.read(CHUNK):
        if not isinstance(chunk, bytes):
            raise TypeError("the file must be opened in binary mode")
        tmp.write(chunk)
        size += len(chunk)
    tmp.seek(0)
    return Region(tmp, 0, size)


def region_of_file(tmp: BinaryIO) -> Region:
    end = tmp.seek(0, os.SEEK_END)
    tmp.seek(0)
    return Region(tmp, 0, end)


class Base64Writer:
    """Writes base64 in 76-character CRLF lines (RFC 2045 §6.8) to a sink, encoding in large C-speed blocks."""

    BLOCK = 57 * 8192  # a multiple of 57 bytes, i.e. of whole 76-character lines

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self._pending:
            take = min((-len(self._pending)) % 57, len(view))
            self._pending += view[:take]
            view = view[take:]
            if not view:
                if len(self._pending) >= self.BLOCK and len(self._pending) % 57 == 0:
                    self._flush()
                return
            self._flush()  # whole lines now
        cut = len(view) - len(view) % 57
        # Large writes are encoded in place, never copied into the buffer first, a block at a time (the encoded
        # copies of a block are what this writer holds in memory).
        for start in range(0, cut, self.BLOCK):
            self._sink.write(base64_lines(view[start : min(cut, start + self.BLOCK)]))
        self._pending += view[cut:]

    def _flush(self) -> None:
        if self._pending:
            self._sink.write(base64_lines(self._pending))
            self._pending = bytearray()

    def close(self) -> None:
        self._flush()


NUMPY_WORTH = 24 << 20  # numpy takes ~50 ms to import and saves ~2 ms per MiB: worth it only for bulk data
_bulk_seen = 0


def expect_bulk(size: int) -> None:
    """Tell the chunk scanners how much data is coming, so a large message uses numpy from its first chunk."""
    global _bulk_seen
    _bulk_seen += size


def _numpy_worth(size: int) -> bool:
    """numpy for chunks of at least 64 KiB once enough data has been (or will be) processed; before that, and for
    small messages, bytes methods, which cost more per MiB but nothing to start."""
    if size < 1 << 16:
        return False
    if _bulk_seen < NUMPY_WORTH:
        expect_bulk(size)
    return _bulk_seen >= NUMPY_WORTH


def base64_lines(data: bytes | bytearray | memoryview) -> bytes:
    """Base64 in 76-character CRLF lines. Bulk data is encoded whole and cut into lines with numpy."""
    if not _numpy_worth(len(data)):
        return bytes(pybase64.encodebytes(data).replace(b"\n", b"\r\n"))
    import numpy as np

    encoded = pybase64.b64encode(data)
    rows, rest = divmod(len(encoded), 76)
    lines = np.empty((rows, 78), dtype=np.uint8)
    lines[:, :76] = np.frombuffer(encoded, dtype=np.uint8, count=rows * 76).reshape(rows, 76)
    lines[:, 76] = 13
    lines[:, 77] = 10
    out = lines.tobytes()
    if rest:
        out += encoded[rows * 76 :] + b"\r\n"
    return out


def decode_base64(data: bytes) -> bytes:
    """Decode base64, discarding characters outside the alphabet as RFC 2045 §6.8 asks."""
    clean = data.translate(None, b" \t\r\n")
    return bytes(pybase64.b64decode(clean, validate=True))


def decode_base64_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Streaming base64 decoding: whitespace removed, quartets carried across chunk boundaries."""
    carry = b""
    try:
        for chunk in chunks:
            clean = carry + chunk.translate(None, b" \t\r\n")
            cut = len(clean) - len(clean) % 4
            carry = clean[cut:]
            if cut:
                yield bytes(pybase64.b64decode(clean[:cut], validate=True))
        if carry:
            yield bytes(pybase64.b64decode(carry, validate=True))
    except (binascii.Error, ValueError):
        raise MalformedMIMEError("the base64 body is corrupt or truncated") from None


class Canonicalizer:
    """Turns bare LF and bare CR into CRLF across chunk boundaries (RFC 8551 §3.1.1)."""

    def __init__(self) -> None:
        self._cr_pending = False
        self.changed = False

    def feed(self, chunk: bytes) -> bytes:
        if self._cr_pending:
            chunk = b"\r" + chunk
            self._cr_pending = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._cr_pending = True
        if is_crlf_canonical(chunk):
            return chunk
        self.changed = True
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")

    def close(self) -> bytes:
        if self._cr_pending:
            self._cr_pending = False
            self.changed = True  # a bare CR at the very end: the canonical form differs from the input
            return b"\r\n"
        return b""


def is_crlf_canonical(chunk: bytes) -> bool:
    """True when every LF is preceded by CR and every CR is followed by LF (CR at the very end excepted)."""
    if not _numpy_worth(len(chunk)):
        crlf = chunk.count(b"\r\n")
        return chunk.count(b"\n") == crlf and chunk.count(b"\r") == crlf
    import numpy as np

    a = np.frombuffer(chunk, dtype=np.uint8)
    lf = _lf_positions(chunk)
    if len(lf) and lf[0] == 0:
        return False
    return bool((a[lf - 1] == 13).all()) and int(np.count_nonzero(a == 13)) == len(lf)


class LineStats:
    """Tracks, across chunks, whether data is 7-bit, NUL-free, and has no line longer than 998 octets."""

    def __init__(self) -> None:
        self.seven_bit = True
        self.long_line = False
        self.has_nul = False
        self._run = 0  # length of the current (unterminated) line

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.seven_bit and not chunk.isascii():
            self.seven_bit = False
        if b"\x00" in chunk:
            self.has_nul = True
        if self.long_line:
            return
        first = chunk.find(b"\n")
        if first < 0:
            self._run += len(chunk)
            self.long_line = self._run > MAX_LINE + 1
            return
        if self._run + first > MAX_LINE + 1:
            self.long_line = True
            return
        last = chunk.rfind(b"\n")
        self._run = len(chunk) - last - 1
        if self._run > MAX_LINE + 1 or (last > first and _longest_line(chunk, first, last) > MAX_LINE + 1):
            self.long_line = True

    @property
    def clean(self) -> bool:
        return self.seven_bit and not self.long_line and not self.has_nul


def longest_line(chunk: bytes) -> int:
    """The longest line of a chunk that starts at a line start, in octets up to its LF (a CRLF line counts its
    CR; an unterminated last line counts whole)."""
    first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
    if first < 0:
        return len(chunk)
    inner = _longest_line(chunk, first, last) if last > first else 0
    return max(first, inner, len(chunk) - last - 1)


def _longest_line(chunk: bytes, first: int, last: int) -> int:
    """Longest distance between consecutive LFs in chunk[first:last+1] (counts the CR of CRLF)."""
    if not _numpy_worth(last - first):
        return max(map(len, chunk[first + 1 : last].split(b"\n")))
    import numpy as np

    positions = _lf_positions(chunk)  # the whole chunk's LFs: first and last are its first and last LF
    return int(np.diff(positions).max()) - 1 if len(positions) > 1 else 0


_last_lf: tuple[object, Any] = (None, None)


def _lf_positions(chunk: bytes) -> Any:
    """Offsets of every LF in a chunk (numpy). The canonical-form check and the line-length check scan the same
    chunk one after the other: the second reuses the first's result."""
    global _last_lf
    seen, positions = _last_lf
    if seen is chunk:
        return positions
    import numpy as np

    positions = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
    _last_lf = (chunk, positions)
    return positions


__all__ = [
    "CHUNK",
    "BackgroundHash",
    "BackgroundWriter",
    "Base64Source",
    "Base64Writer",
    "Canonicalizer",
    "IterReader",
    "JoinedFile",
    "LineStats",
    "Region",
    "RegionReader",
    "Source",
    "base64_lines",
    "decode_base64",
    "decode_base64_chunks",
    "expect_bulk",
    "is_crlf_canonical",
    "longest_line",
    "region_of",
    "region_of_file",
    "rewindable",
    "spool",
    "truncate_to",
]

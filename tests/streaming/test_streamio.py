"""The chunked primitives give the same bytes as their whole-buffer equivalents, whatever the chunk boundaries."""

from __future__ import annotations

import io
import os
import random

import pybase64
import pytest

from mailseal.mime.canonical import to_crlf
from mailseal.streamio import (
    Base64Writer,
    Canonicalizer,
    LineStats,
    Region,
    base64_lines,
    decode_base64_chunks,
    is_crlf_canonical,
    longest_line,
)


@pytest.fixture(params=["bytes-methods", "numpy"], autouse=True)
def scanner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both implementations of the bulk scans: bytes methods (small messages) and numpy
    (chosen once tens of MiB are expected); they must agree byte for byte."""
    import mailseal.streamio

    monkeypatch.setattr(mailseal.streamio, "_bulk_seen", 0)
    monkeypatch.setattr(mailseal.streamio, "NUMPY_WORTH", 0 if request.param == "numpy" else 1 << 62)
    return str(request.param)


def test_the_scanner_fixture_selects_the_implementation(scanner: str) -> None:
    from mailseal.streamio import _numpy_worth

    assert _numpy_worth(1 << 20) is (scanner == "numpy")
    assert _numpy_worth(100) is False  # small pieces never pay numpy's call overhead


def pieces(data: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = rng.choice([1, 2, 3, 56, 57, 58, 1000, 70000, 200000])
        out.append(data[pos : pos + n])
        pos += n
    return out


@pytest.mark.parametrize("seed", range(6))
def test_base64_writer_matches_whole_buffer(seed: int) -> None:
    rng = random.Random(seed)
    data = os.urandom(rng.randrange(0, 3 * Base64Writer.BLOCK))
    sink = io.BytesIO()
    writer = Base64Writer(sink)  # type: ignore[arg-type]
    for piece in pieces(data, rng):
        writer.write(piece)
    writer.close()
    assert sink.getvalue() == base64_lines(data)
    assert all(len(line) <= 76 for line in sink.getvalue().split(b"\r\n"))
    assert b"".join(decode_base64_chunks(pieces(sink.getvalue(), rng))) == data


@pytest.mark.parametrize("seed", range(6))
def test_canonicalizer_matches_to_crlf(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [b"a", b"b", b"\r", b"\n", b"\r\n", b" "]
    data = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 300_000)))
    canon = Canonicalizer()
    out = b"".join(canon.feed(p) for p in pieces(data, rng)) + canon.close()
    assert out == to_crlf(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"a\r\nb\r\n" * 40000, True), (b"a\r\nb\n" * 40000, False), (b"\n" + b"a\r\n" * 40000, False),
     (b"a\rb\r\n" * 40000, False), (b"a\r\nb", True), (b"a\r\n" * 40000 + b"\n\r", False),
     (b"a\r\n" * 40000 + b"\r\r\n", False)],
)
def test_crlf_canonical_check(data: bytes, expected: bool) -> None:
    assert is_crlf_canonical(data) is expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"ab\r\n" * 40000, 3), (b"x" * 998 + b"\r\n" + b"ab\r\n" * 40000, 999),
     (b"ab\r\n" * 40000 + b"y" * 1000 + b"\r\n", 1001), (b"ab\r\n" * 20000 + b"z" * 5000 + b"\r\n" + b"ab\r\n" * 20000, 5001),
     (b"ab\r\n" * 40000 + b"tail without end", 16), (b"no line end", 11), (b"", 0), (b"\n" * 70000, 0)],
)
def test_longest_line_counts_the_cr(data: bytes, expected: int) -> None:
    assert longest_line(data) == expected


def test_line_stats_find_long_lines_across_chunks() -> None:
    for line_length, long in ((998, False), (999, True), (5000, True)):
        data = (b"x" * line_length + b"\r\n") * 3
        for size in (7, 500, 1 << 17):
            stats = LineStats()
            for i in range(0, len(data), size):
                stats.feed(data[i : i + size])
            assert stats.long_line is long, (line_length, size)
    stats = LineStats()
    stats.feed(pybase64.encodebytes(os.urandom(1 << 20)).replace(b"\n", b"\r\n"))
    assert stats.clean


def test_region_find_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import mailseal.streamio

    monkeypatch.setattr(mailseal.streamio, "CHUNK", 5)
    region = Region.of_bytes(b"0123456789--boundary--tail")
    assert region.find(b"--boundary") == 10
    assert region.find(b"--boundary", 11) == -1
    assert b"".join(region.sub(10, 20).chunks()) == b"--boundary"


def test_a_joined_file_reads_its_parts_as_one_seekable_file() -> None:
    import io
    import random

    from mailseal.streamio import JoinedFile, Region

    rng = random.Random(7)
    body = rng.randbytes(5000)
    region = Region(io.BytesIO(b"xx" + body + b"yy"), 2, 5002)  # a part in the middle of its file
    joined = JoinedFile([b"Subject: new\r\n\r\n", region, b"", b"tail"])
    whole = b"Subject: new\r\n\r\n" + body + b"tail"
    assert joined.read() == whole
    for _ in range(500):  # every read is filled across the parts: a short read only at the end
        start, length = rng.randrange(len(whole) + 5), rng.randrange(7000)
        joined.seek(start)
        assert joined.read(length) == whole[start:start + length]
    assert joined.seek(-4, 2) == len(whole) - 4 and joined.read() == b"tail"
    assert not region.file.closed
    joined.close()
    assert not region.file.closed  # a view: the parts' files are their owners' to close

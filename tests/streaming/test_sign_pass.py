"""Signing hashes the content entity during its canonical-form scan when the body needs no re-encoding; the
second pass then only copies. Whatever path is taken, the digest must be that of exactly the bytes written."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pybase64
import pytest

import mailseal
from mailseal._allocator import keep_freed_memory
from mailseal.mime.canonical import BACKGROUND_HASH_MIN, canonical_entity_hashed
from mailseal.mime.entity import Entity
from mailseal.mime.signed import SignOptions, sign_message
from mailseal.streamio import BackgroundWriter
from tests.support.testpki import TestPKI

BASE64_BODY = pybase64.encodebytes(os.urandom(57 * 1000)).replace(b"\n", b"\r\n")
BIG_BODY = BASE64_BODY * (BACKGROUND_HASH_MIN // len(BASE64_BODY) + 2)  # hashed by the background thread

CASES = {
    "canonical-7bit": (b"Content-Type: text/plain\r\n\r\n" + b"line\r\n" * 50, True),
    "canonical-7bit-big": (
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + BIG_BODY, True
    ),
    "no-content-fields": (b"Subject: x\r\n\r\nplain words\r\n", True),
    "lf-only": (b"Content-Type: text/plain\r\n\r\n" + b"line\n" * 50, False),
    "lf-only-big": (b"Content-Type: text/plain\r\n\r\n" + BIG_BODY.replace(b"\r\n", b"\n"), False),
    "eight-bit-text": ("Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n".encode(), False),
    "bare-cr-at-the-end": (b"Content-Type: text/plain\r\n\r\nlast line\r", False),
    "long-line": (b"Content-Type: text/plain\r\n\r\n" + b"x" * 1200 + b"\r\n", False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hash_during_scan_is_the_hash_of_the_output(name: str) -> None:
    message, expect_hashed = CASES[name]
    h = hashlib.sha256()
    chunks, hashed = canonical_entity_hashed(Entity.parse(message), h)
    written = b"".join(chunks())
    assert hashed is expect_hashed
    if hashed:
        assert h.digest() == hashlib.sha256(written).digest()
    assert b"\n" not in written.replace(b"\r\n", b"") and b"\r" not in written.replace(b"\r\n", b"")


@pytest.mark.parametrize("name", list(CASES))
def test_signed_messages_verify_whatever_the_path(name: str, pki: TestPKI) -> None:
    message, _ = CASES[name]
    alice = pki.user("alice")
    full = f"From: {alice.email}\r\nTo: bob@example.com\r\n".encode() + message
    signed = mailseal.sign(full, mailseal.Identity(alice.key, alice.cert, alice.chain))
    report = mailseal.verify(signed, trust=mailseal.TrustStore((pki.root_cert,)))
    assert report.status == "valid", report


def test_freed_buffers_are_kept_for_reuse_on_glibc() -> None:
    """The CLI asks glibc to keep freed chunk buffers (page faults were a third of encrypt's time)."""
    if os.confstr("CS_GNU_LIBC_VERSION") is None:
        pytest.skip("not glibc: nothing to tune")
    assert keep_freed_memory() is True


class PipeLike(io.RawIOBase):
    """A write-only, non-seekable sink (stdout piped to another program)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


@pytest.mark.parametrize("name", ["canonical-7bit-big", "lf-only-big", "eight-bit-text", "long-line"])
@pytest.mark.parametrize("sink_kind", ["file", "background-file", "pipe"])
def test_single_pass_output_is_identical_to_the_in_memory_result(
    name: str, sink_kind: str, pki: TestPKI, tmp_path: Path
) -> None:
    """Written during the scan where the sink can be cut back, taken back when the body needs re-encoding: the
    bytes are those of the in-memory path either way (the same boundary and signing time are forced)."""
    message, _ = CASES[name]
    alice = pki.user("alice")
    identity = mailseal.Identity(alice.key, alice.cert, alice.chain)
    full = f"From: {alice.email}\r\n".encode() + message
    fixed = SignOptions()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("mailseal.mime.signed.new_boundary", lambda: "----=_fixed")
        mp.setattr("mailseal.cms.signing.datetime", _FrozenDatetime)
        expected = sign_message(full, identity, fixed)
        assert expected is not None
        if sink_kind == "pipe":
            pipe = PipeLike()
            sign_message(full, identity, fixed, out=pipe)  # type: ignore[arg-type]
            got = bytes(pipe.data)
        else:
            with (tmp_path / "out.eml").open("w+b") as fh:
                fh.write(b"kept before\r\n")
                writer = BackgroundWriter(fh) if sink_kind == "background-file" else fh
                sign_message(full, identity, fixed, out=writer)  # type: ignore[arg-type]
                if isinstance(writer, BackgroundWriter):
                    writer.close()
            got = (tmp_path / "out.eml").read_bytes()
            assert got.startswith(b"kept before\r\n")
            got = got[len(b"kept before\r\n") :]
    assert got == expected
    assert mailseal.verify(got, trust=mailseal.TrustStore((pki.root_cert,))).status == "valid"


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenDatetime:
        return cls(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_a_failure_during_the_scan_leaves_nothing_behind(pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header goes out before the scan; when the scan refuses the message, what was written is taken back."""
    from mailseal.errors import LimitExceededError

    monkeypatch.setattr("mailseal.mime.canonical.MAX_REENCODED_MULTIPART", 10)
    alice = pki.user("alice")
    eight_bit_multipart = (
        f"From: {alice.email}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße aus der Mitte eines langen Textes\r\n--b--\r\n"
    ).encode()
    sink = io.BytesIO(b"kept")
    sink.seek(4)
    with pytest.raises(LimitExceededError):
        sign_message(eight_bit_multipart, mailseal.Identity(alice.key, alice.cert, alice.chain), out=sink)
    assert sink.getvalue() == b"kept"

"""Signing hashes the content entity during its canonical-form scan when the body needs no re-encoding; the
second pass then only copies. Whatever path is taken, the digest must be that of exactly the bytes written."""

from __future__ import annotations

import hashlib
import os

import pybase64
import pytest

import mailseal
from mailseal._allocator import keep_freed_memory
from mailseal.mime.canonical import BACKGROUND_HASH_MIN, canonical_entity_hashed
from mailseal.mime.entity import Entity
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

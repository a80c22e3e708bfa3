"""Signing checks the signer against From (RFC 8550 §3, as gpgsm and Thunderbird do; issue 12, point 6)."""

from __future__ import annotations

import io

import pytest

import mailseal
from mailseal.errors import ErrorCode, FromMismatchError, SignerError
from tests.support.messages import ident
from tests.support.testpki import TestPKI


def _message(from_field: bytes | None) -> bytes:
    head = b"" if from_field is None else b"From: " + from_field + b"\r\n"
    return head + b"To: bob@example.org\r\nSubject: payment\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nPay.\r\n"


@pytest.mark.parametrize("opaque", [False, True], ids=["clear", "opaque"])
def test_sign_refuses_a_from_the_certificate_does_not_name(pki: TestPKI, opaque: bool) -> None:
    alice = pki.user("alice")
    out = io.BytesIO()
    with pytest.raises(FromMismatchError) as info:
        mailseal.sign(_message(b"Eve <eve@evil.example>"), ident(alice), opaque=opaque, out=out)
    exc = info.value
    assert exc.code is ErrorCode.FROM_MISMATCH and isinstance(exc, SignerError)
    assert "eve@evil.example" in exc.message and "alice@example.org" in exc.message
    assert "allow_from_mismatch" in exc.message
    assert exc.from_addresses == ("eve@evil.example",)
    assert exc.certificate_addresses == ("alice@example.org",)
    assert out.getvalue() == b""  # refused before anything is written


def test_sign_with_allow_from_mismatch_signs_anyway(pki: TestPKI) -> None:
    alice = pki.user("alice")
    signed = mailseal.sign(_message(b"eve@evil.example"), ident(alice), allow_from_mismatch=True)
    report = mailseal.verify(signed, trust=mailseal.TrustStore(anchors=(pki.root_cert,)))
    assert report.signers[0].intact
    assert report.status != "valid"  # what the check prevents: readers flag the address


@pytest.mark.parametrize("from_field", [
    b"alice@example.org",
    b"Alice <alice@EXAMPLE.Org>",
    b'"boss@corp.example" <alice@example.org>',
    b"alice@example.org (Alice)",
], ids=["plain", "domain-case", "address-like-display-name", "comment"])
def test_the_from_address_decides_which_key_may_sign(pki: TestPKI, from_field: bytes) -> None:
    """alice's key signs alice's message, whatever the form of her From; bob's key is refused for it."""
    alice, bob = pki.user("alice"), pki.user("bob")
    signed = mailseal.sign(_message(from_field), ident(alice))
    report = mailseal.verify(signed, trust=mailseal.TrustStore(anchors=(pki.root_cert,)))
    assert report.status == "valid"
    with pytest.raises(FromMismatchError) as info:
        mailseal.sign(_message(from_field), ident(bob))
    assert info.value.certificate_addresses == ("bob@example.org",)


def test_an_address_in_the_display_name_does_not_count(pki: TestPKI) -> None:
    """``"alice@example.org" <eve@evil.example>`` is eve's message: the address is the one in angle brackets."""
    alice = pki.user("alice")
    with pytest.raises(FromMismatchError) as info:
        mailseal.sign(_message(b'"alice@example.org" <eve@evil.example>'), ident(alice))
    assert info.value.from_addresses == ("eve@evil.example",)


def test_every_from_address_must_be_the_certificate_s(pki: TestPKI) -> None:
    alice = pki.user("alice")
    with pytest.raises(FromMismatchError) as info:
        mailseal.sign(_message(b"alice@example.org, Eve <eve@evil.example>"), ident(alice))
    assert "eve@evil.example" in info.value.message
    assert info.value.from_addresses == ("alice@example.org", "eve@evil.example")


def test_a_message_without_from_is_refused(pki: TestPKI) -> None:
    alice = pki.user("alice")
    with pytest.raises(FromMismatchError) as info:
        mailseal.sign(_message(None), ident(alice), protect_headers=True)
    assert "no From" in info.value.message and "alice@example.org" in info.value.message
    assert info.value.from_addresses == ()
    assert mailseal.sign(_message(None), ident(alice), allow_from_mismatch=True).count(b"multipart/signed") == 1


def test_the_subject_email_address_counts_when_there_is_no_san(pki: TestPKI) -> None:
    old_style = pki.user("oldstyle", email="old@example.org", san=False, subject_email=True)
    assert mailseal.sign(_message(b"old@example.org"), ident(old_style))
    with pytest.raises(FromMismatchError) as info:
        mailseal.sign(_message(b"other@example.org"), ident(old_style))
    assert info.value.certificate_addresses == ("old@example.org",)


def test_the_local_part_is_compared_exactly(pki: TestPKI) -> None:
    """RFC 8550 §3 compares the domain without case, the local part exactly: as the verifier judges."""
    alice = pki.user("alice")
    with pytest.raises(FromMismatchError):
        mailseal.sign(_message(b"ALICE@example.org"), ident(alice))

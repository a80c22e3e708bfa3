"""Protected header fields on the way in (RFC 9788 §4, issue 17 point 4): ``open``/``verify`` prefer the fields
inside a signed or encrypted payload, say which header set they used, and flag a From or Subject changed outside.

A naive reader shows the outer fields of a signed message next to "signed by": changing them outside the signature
costs an attacker nothing. Each test says what such a reader would have shown.
"""

from __future__ import annotations

import mailseal
from tests.attacks.support import alice, eve, mail, set_field, sign, trust, verify
from tests.conftest import RunCli
from tests.support.messages import ident
from tests.support.testpki import TestPKI


def test_signed_hp_clear_uses_the_protected_set(pki: TestPKI) -> None:
    signed = sign(mail("alice@example.org", subject="quarterly figures"), alice(pki), protect_headers=True)
    report = verify(signed, pki)
    assert report.status == "valid"
    assert report.headers is not None and report.headers.source == "protected"
    assert report.headers.scheme == "hp=clear" and report.headers.differences == ()
    assert report.to_dict()["headers"]["fields"]["Subject"] == "quarterly figures"


def test_outer_subject_changed_is_flagged_and_the_protected_one_shown(pki: TestPKI) -> None:
    """Naive: shows the outer Subject "URGENT: wire 50k today" as part of a message validly signed by alice."""
    signed = sign(mail("alice@example.org", subject="lunch?"), alice(pki), protect_headers=True)
    tampered = set_field(signed, b"Subject", b"URGENT: wire 50k today")
    opened = mailseal.open(tampered, trust=trust(pki))
    headers = opened.report.headers
    assert headers is not None and headers.changed == ("subject",)
    assert any("outer Subject (URGENT: wire 50k today)" in w for w in opened.report.to_dict()["warnings"])
    assert b"Subject: lunch?" in opened.message and b"URGENT" not in opened.message


def test_outer_from_changed_loses_valid(pki: TestPKI) -> None:
    """Eve signs a message whose protected From is her own, then writes From: boss outside.
    Naive: "valid signature" beside From: boss@corp.example (the signer matched the inner From)."""
    signed = sign(mail("eve@evil.example"), eve(pki), protect_headers=True)
    spoofed = set_field(signed, b"From", b"Boss <boss@corp.example>")
    report = verify(spoofed, pki)
    assert report.status == "address-mismatch"
    assert report.signers[0].emails == ["eve@evil.example"]
    assert any("changed outside" in r for r in report.signers[0].reasons)
    assert report.headers is not None and report.headers.from_changed


def test_unchanged_signed_message_without_protection_uses_the_outer_set(pki: TestPKI) -> None:
    report = verify(sign(mail("alice@example.org"), alice(pki)), pki)
    assert report.status == "valid"
    assert report.headers is not None and report.headers.source == "outer" and report.headers.scheme is None


def test_broken_signature_does_not_make_the_inner_fields_believed(pki: TestPKI) -> None:
    """The protected fields are only as good as the layer around them."""
    signed = sign(mail("alice@example.org", body=b"Pay 10.\r\n"), alice(pki), protect_headers=True)
    report = verify(signed.replace(b"Pay 10.", b"Pay 99."), pki)
    assert report.status == "invalid-signature"
    assert report.headers is not None and report.headers.source == "outer"
    assert any("do not" in d or "does not verify" in d for d in report.headers.differences)


def test_encrypted_hp_cipher_obscured_subject_is_not_a_difference(pki: TestPKI) -> None:
    bob = pki.user("bob", "ec-p256")
    sealed = mailseal.encrypt(mail("alice@example.org", subject="salaries", to="bob@example.org"), [bob.cert],
                              protect_headers=True)
    assert b"Subject: [...]" in sealed
    report = mailseal.open(sealed, [ident(bob)], trust=trust(pki)).report
    assert report.headers is not None and report.headers.scheme == "hp=cipher"
    assert report.headers.value("Subject") == "salaries" and report.headers.differences == ()


def test_encrypted_outer_subject_other_than_recorded_is_flagged(pki: TestPKI) -> None:
    """HP-Outer records "[...]" as sent; an outer Subject that says something else was written by someone else.
    Naive: shows the outer Subject, or silently the inner one, with no word of the change."""
    bob = pki.user("bob", "ec-p256")
    sealed = mailseal.encrypt(mail("alice@example.org", subject="salaries", to="bob@example.org"), [bob.cert],
                              protect_headers=True)
    report = mailseal.open(set_field(sealed, b"Subject", b"Your account is locked"), [ident(bob)]).report
    assert report.headers is not None and report.headers.changed == ("subject",)


def test_cli_says_which_header_set(pki: TestPKI, run_cli: RunCli) -> None:
    signed = sign(mail("alice@example.org"), alice(pki), protect_headers=True)
    result = run_cli("verify", "--trust", str(pki.root_path), input=set_field(signed, b"Subject", b"changed"))
    text = result.stdout.decode() + result.stderr.decode()
    assert "header fields: protected (hp=clear)" in text
    assert "outer Subject (changed)" in text

"""S/MIME profile checks (RFC 8550, S/MIME BR): one small test per rule of ``check_certificate``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from mailseal.cms.identity import load_certificates
from mailseal.pki.profile import (
    certificate_emails,
    check_certificate,
    email_matches,
    encryption_usage_problems,
    normalize_address,
    signing_usage_problems,
    weak_key_reason,
)
from tests.conftest import CORPUS_DIR
from tests.support.testpki import TestPKI

CSRSA1 = CORPUS_DIR / "openssl_tests" / "test" / "smime-certs" / "csrsa1.pem"


def test_default_rsa_user_can_sign_and_encrypt(pki: TestPKI) -> None:
    v = check_certificate(pki.user("alice").cert, "alice@example.org")
    assert (v.can_sign, v.can_encrypt, v.address_matches) == (True, True, True)
    assert v.addresses == ("alice@example.org",)
    assert v.reasons_sign == [] and v.reasons_encrypt == []


def test_domain_compared_case_insensitively(pki: TestPKI) -> None:
    v = check_certificate(pki.user("alice").cert, "alice@EXAMPLE.org")
    assert v.address_matches is True and v.can_sign


def test_local_part_compared_exactly(pki: TestPKI) -> None:
    v = check_certificate(pki.user("alice").cert, "Alice@example.org")
    assert v.address_matches is False
    assert not v.can_sign and not v.can_encrypt
    assert any("not an address of the certificate" in r for r in v.reasons_sign)


def test_signing_only_cannot_encrypt(pki: TestPKI) -> None:
    cert = pki.user("signer", key_usage={"digitalSignature", "nonRepudiation"}).cert
    v = check_certificate(cert)
    assert v.can_sign and not v.can_encrypt
    assert v.reasons_encrypt == ["the certificate's key usage does not allow keyEncipherment"]


def test_encryption_only_rsa_cannot_sign(pki: TestPKI) -> None:
    v = check_certificate(pki.user("encr", key_usage={"keyEncipherment"}).cert)
    assert v.can_encrypt and not v.can_sign
    assert "neither digitalSignature nor nonRepudiation" in v.reasons_sign[0]


def test_ec_encryption_needs_key_agreement(pki: TestPKI) -> None:
    v = check_certificate(pki.user("ecsig", "ec-p256", key_usage={"digitalSignature"}).cert)
    assert v.can_sign and v.reasons_encrypt == ["the certificate's key usage does not allow keyAgreement"]


def test_ed25519_signs_only(pki: TestPKI) -> None:
    v = check_certificate(pki.user("edd", "ed25519").cert)
    assert v.can_sign and not v.can_encrypt
    assert "can only sign" in v.reasons_encrypt[0]


def test_x25519_encrypts_only(pki: TestPKI) -> None:
    v = check_certificate(pki.user("xx", "x25519").cert)
    assert v.can_encrypt and not v.can_sign
    assert "cannot sign" in v.reasons_sign[-1]


def test_expired_is_refused_for_both(pki: TestPKI) -> None:
    past = datetime.now(UTC) - timedelta(days=10)
    cert = pki.user("old", not_before=past - timedelta(days=30), not_after=past).cert
    v = check_certificate(cert, "old@example.org")
    assert not v.can_sign and not v.can_encrypt
    assert any(r.startswith("the certificate expired on") for r in v.reasons_sign)
    # At a moment inside its validity it would have been fine: time is a parameter.
    assert check_certificate(cert, at=past - timedelta(days=1)).can_sign


def test_not_yet_valid(pki: TestPKI) -> None:
    cert = pki.user("alice").cert
    v = check_certificate(cert, at=cert.not_valid_before_utc - timedelta(days=1))
    assert not v.can_sign and "is not valid before" in v.reasons_sign[0]


def test_rsa_1024_refused(pki: TestPKI) -> None:
    v = check_certificate(pki.user("weak", "rsa1024").cert)
    assert not v.can_sign and not v.can_encrypt
    assert "the RSA key has only 1024 bits (at least 2048 are required)" in v.reasons_sign


def test_eku_without_email_protection(pki: TestPKI) -> None:
    v = check_certificate(pki.user("tls", eku=[ExtendedKeyUsageOID.SERVER_AUTH]).cert)
    assert not v.can_sign and not v.can_encrypt
    assert "extended key usage does not include emailProtection" in v.reasons_sign[0]


def test_any_eku_and_absent_eku_accepted(pki: TestPKI) -> None:
    assert check_certificate(pki.user("any", eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]).cert).can_sign
    assert check_certificate(pki.user("noeku", eku=[]).cert).can_encrypt


def test_code_signing_certificate_from_openssl_corpus() -> None:
    if not CSRSA1.is_file():
        pytest.skip(f"corpus file missing: {CSRSA1}")
    cert = load_certificates(CSRSA1.read_bytes())[0]
    v = check_certificate(cert)
    assert not v.can_sign and not v.can_encrypt
    assert "the certificate's extended key usage does not include emailProtection" in v.reasons_sign
    assert any("no e-mail address" in r for r in v.reasons_encrypt)


def test_subject_email_is_a_fallback(pki: TestPKI) -> None:
    cert = pki.user("dnonly", san=False, subject_email=True).cert
    assert certificate_emails(cert) == ["dnonly@example.org"]
    assert check_certificate(cert, "dnonly@example.org").can_sign


def test_no_address_at_all(pki: TestPKI) -> None:
    v = check_certificate(pki.user("anon", san=False).cert)
    assert v.addresses == () and not v.can_sign
    assert "carries no e-mail address" in v.reasons_sign[0]


def test_ca_certificate_is_not_an_end_entity(pki: TestPKI) -> None:
    v = check_certificate(pki.root_cert)
    assert any("CA certificate" in r for r in v.reasons_sign)


def test_verdict_to_dict_round_trips_fields(pki: TestPKI) -> None:
    d = check_certificate(pki.user("alice").cert, "alice@example.org").to_dict()
    assert d == {"can_sign": True, "can_encrypt": True, "addresses": ["alice@example.org"],
                 "address_matches": True, "reasons_sign": [], "reasons_encrypt": []}


# The older single-question functions keep their meaning (mime.judgement and cms call them).


def test_legacy_helpers_unchanged(pki: TestPKI) -> None:
    alice = pki.user("alice").cert
    assert email_matches("alice@Example.ORG", alice) and not email_matches("bob@example.org", alice)
    assert normalize_address(" Bob@Example.ORG ") == "Bob@example.org"
    assert signing_usage_problems(alice) == [] and encryption_usage_problems(alice) == []
    assert weak_key_reason(alice) is None
    assert weak_key_reason(pki.user("weak", "rsa1024").cert) == (
        "the signer's RSA key has only 1024 bits (at least 2048 are expected)"
    )
    assert isinstance(alice, x509.Certificate)

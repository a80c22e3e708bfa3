"""Reading a certificate's fields when pyca parses them lazily: the one defensive reader (pki/certfields.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from mailseal.pki.certfields import certificate_fields, subject_or_fingerprint, unreadable_reason
from tests.support.broken_certs import break_certificate
from tests.support.testpki import TestPKI


@pytest.mark.parametrize(("breakage", "subject", "emails", "reason"), [
    ("subject", None, ("alice@example.org",), "its subject is malformed"),
    ("san-address", "O=mailseal tests,CN=alice", (), "its extensions are malformed"),
    ("key-usage", "O=mailseal tests,CN=alice", (), "its extensions are malformed"),
])
def test_broken_field_is_named_and_the_rest_still_read(pki: TestPKI, breakage: str, subject: str | None,
                                                       emails: tuple[str, ...], reason: str) -> None:
    der = break_certificate(pki.user("alice").cert.public_bytes(Encoding.DER), breakage)
    cert = x509.load_der_x509_certificate(der)  # loads: the damage is in a field pyca parses on first read
    assert (unreadable_reason(cert) or "").startswith(f"the signer's certificate cannot be parsed: {reason} (")
    fields = certificate_fields(cert)
    assert (fields.subject, fields.issuer, fields.emails) == (
        subject, "O=mailseal tests,CN=mailseal Test Intermediate", emails)
    assert fields.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    expected = subject if subject is not None else f"certificate {fields.fingerprint_sha256[:16]}"
    assert subject_or_fingerprint(cert) == expected


def test_a_sound_certificate_has_no_reason(pki: TestPKI) -> None:
    cert = pki.user("alice").cert
    assert unreadable_reason(cert) is None
    assert certificate_fields(cert).label == "alice@example.org"


def test_an_empty_subject_is_shown_as_it_is_not_as_unparsable() -> None:
    # RFC 5280 §4.1.2.6 allows an empty subject beside a subjectAltName: it parses, so it is no fallback case.
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(x509.Name([]))
            .public_key(key.public_key()).serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(1))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("e@example.org")]), critical=True)
            .sign(key, hashes.SHA256()))
    assert unreadable_reason(cert) is None
    assert (certificate_fields(cert).subject, subject_or_fingerprint(cert)) == ("", "")
    assert certificate_fields(cert).label == "e@example.org"

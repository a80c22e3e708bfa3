"""The internal CA (S/MIME BR strict profile): key protection, issued certificate contents, revocation, CRLs."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

import mailseal
from mailseal.errors import UsageError, WrongPasswordError
from mailseal.pki.authority import (
    CERT_FILE,
    KEY_FILE,
    MAILBOX_VALIDATED_STRICT,
    CAError,
    CertificateAuthority,
    decrypt_key,
    parse_serial,
)
from mailseal.pki.profile import SMTP_UTF8_MAILBOX, certificate_emails, check_certificate, email_matches
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext

PASS = b"correct horse"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create("Test Org CA", PASS, directory=tmp_path_factory.mktemp("ca") / "ca",
                                       key_type="p256")


@pytest.fixture(scope="module")
def ca_with_urls(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create("URL CA", PASS, directory=tmp_path_factory.mktemp("ca2") / "ca",
                                       key_type="p256", crl_url="http://pki.example.org/ca.crl",
                                       ocsp_url="http://ocsp.example.org/")


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


# -- the key on disk -------------------------------------------------------------------------------------------


def test_files_are_private(ca: CertificateAuthority) -> None:
    assert stat.S_IMODE(ca.directory.stat().st_mode) == 0o700
    for path in ca.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_key_file_is_not_a_plain_key(ca: CertificateAuthority) -> None:
    data = (ca.directory / KEY_FILE).read_bytes()
    der = ca.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    assert der not in data and b"PRIVATE KEY" not in data
    for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
        with pytest.raises((ValueError, TypeError)):
            loader(data, None)
    assert decrypt_key(data, PASS).public_key() == ca.certificate.public_key()


def test_wrong_passphrase_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(WrongPasswordError):
        CertificateAuthority.load(ca.directory, b"wrong")


def test_load_without_passphrase_cannot_sign(ca: CertificateAuthority) -> None:
    readonly = CertificateAuthority.load(ca.directory)
    assert readonly.certificate == ca.certificate
    with pytest.raises(UsageError, match="needs the CA key"):
        readonly.issue("nokey@example.org")


def test_second_ca_in_same_place_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(CAError, match="already exists"):
        CertificateAuthority.create("again", PASS, directory=ca.directory)
    assert (ca.directory / CERT_FILE).read_bytes() == ca.certificate.public_bytes(serialization.Encoding.PEM)


def test_ca_certificate_shape(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert _ext(cert, x509.BasicConstraints).value.ca is True
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and ku.value.digital_signature


# -- issued certificates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "usage", "bits"),
    [
        ("rsa2048", "sign", {"digital_signature", "content_commitment"}),
        ("rsa2048", "encrypt", {"key_encipherment"}),
        ("rsa2048", "dual", {"digital_signature", "content_commitment", "key_encipherment"}),
        ("p256", "sign", {"digital_signature", "content_commitment"}),
        ("p256", "encrypt", {"key_agreement"}),
        ("p384", "dual", {"digital_signature", "content_commitment", "key_agreement"}),
    ],
)
def test_strict_profile_key_usage(ca: CertificateAuthority, key_type: str, usage: str, bits: set[str]) -> None:
    issued = ca.issue(f"{usage}.{key_type}@example.org", usage=usage, key_type=key_type, days=30)
    cert = issued.certificate
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical
    all_bits = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                "key_agreement", "key_cert_sign", "crl_sign")
    assert {b for b in all_bits if getattr(ku.value, b)} == bits
    verdict = check_certificate(cert, f"{usage}.{key_type}@example.org")
    assert verdict.can_sign == (usage in ("sign", "dual")), verdict.reasons_sign
    assert verdict.can_encrypt == (usage in ("encrypt", "dual")), verdict.reasons_encrypt


def test_issued_certificate_contents(ca: CertificateAuthority) -> None:
    cert = ca.issue("Carol@Example.ORG", key_type="p256", days=100).certificate
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    policies = _ext(cert, x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [MAILBOX_VALIDATED_STRICT]
    assert _ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name) == [
        "Carol@example.org"
    ]
    assert _ext(cert, x509.BasicConstraints).value.ca is False
    assert cert.serial_number.bit_length() >= 64
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == _ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
    emails = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS)]
    assert emails == ["Carol@example.org"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < timedelta(days=100)
    # No URLs were configured, so none are invented.
    for kind in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_class(kind)
    cert.verify_directly_issued_by(ca.certificate)


def test_configured_urls_are_written(ca_with_urls: CertificateAuthority) -> None:
    cert = ca_with_urls.issue("dave@example.org", key_type="p256").certificate
    dp = _ext(cert, x509.CRLDistributionPoints).value[0]
    assert [n.value for n in dp.full_name or []] == ["http://pki.example.org/ca.crl"]
    aia = _ext(cert, x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, "http://ocsp.example.org/")
    ]


def test_validity_at_most_825_days(ca: CertificateAuthority) -> None:
    with pytest.raises(UsageError, match="825"):
        ca.issue("long@example.org", key_type="p256", days=826)
    cert = ca.issue("long@example.org", key_type="p256", days=825).certificate
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < timedelta(days=825)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=824)


def test_internationalized_local_part_uses_smtputf8mailbox(ca: CertificateAuthority) -> None:
    cert = ca.issue("jörg@bücher.example", key_type="p256").certificate
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == []
    assert [o.type_id for o in san.get_values_for_type(x509.OtherName)] == [SMTP_UTF8_MAILBOX]
    assert certificate_emails(cert) == ["jörg@xn--bcher-kva.example"]
    assert email_matches("jörg@bücher.example", cert)
    assert check_certificate(cert, "jörg@bücher.example").can_sign


@pytest.mark.parametrize("bad", ["no-at-sign", "a@b", "Alice <alice@example.org>", "a b@example.org", "@x.org"])
def test_bad_addresses_refused(ca: CertificateAuthority, bad: str) -> None:
    with pytest.raises(UsageError):
        ca.issue(bad, key_type="p256")


def test_unknown_usage_and_key_type_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(UsageError):
        ca.issue("x@example.org", usage="everything")
    with pytest.raises(UsageError):
        ca.issue("x@example.org", key_type="rsa1024")


def test_pkcs12_holds_key_cert_and_ca(ca: CertificateAuthority) -> None:
    issued = ca.issue("p12@example.org", key_type="p256")
    for legacy in (False, True):
        identity = mailseal.Identity.from_pkcs12(ca.pkcs12(issued, b"pw", legacy=legacy), b"pw")
        assert identity.certificate == issued.certificate
        assert ca.certificate in identity.chain


def test_parse_serial_accepts_colons_and_prefix() -> None:
    assert parse_serial("0x0A:bc") == 0xABC
    with pytest.raises(UsageError):
        parse_serial("xyz")


# -- revocation ------------------------------------------------------------------------------------------------


def test_revoke_and_crl(ca: CertificateAuthority) -> None:
    issued = ca.issue("eve@example.org", key_type="p256")
    first = ca.crl(days=3)
    record = ca.revoke(issued.record.serial, "keyCompromise")
    assert record.status() == "revoked" and record.reason == "keyCompromise"
    crl = ca.crl(days=3)
    assert crl.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    assert first.get_revoked_certificate_by_serial_number(issued.record.serial) is None
    entry = crl.get_revoked_certificate_by_serial_number(issued.record.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.next_update_utc is not None and crl.last_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(days=3)
    assert (ca.directory / "crl.der").read_bytes() == crl.public_bytes(serialization.Encoding.DER)


def test_unspecified_reason_is_left_out(ca: CertificateAuthority) -> None:
    issued = ca.issue("frank@example.org", key_type="p256")
    ca.revoke(issued.record.serial)
    entry = ca.crl().get_revoked_certificate_by_serial_number(issued.record.serial)
    assert entry is not None and len(entry.extensions) == 0


def test_revoke_twice_or_unknown_refused(ca: CertificateAuthority) -> None:
    issued = ca.issue("gina@example.org", key_type="p256")
    ca.revoke(issued.record.serial)
    with pytest.raises(CAError, match="already revoked"):
        ca.revoke(issued.record.serial)
    with pytest.raises(CAError, match="no certificate"):
        ca.revoke(12345)
    with pytest.raises(UsageError):
        ca.revoke(issued.record.serial, "certificateHold")


def test_register_lists_records(ca: CertificateAuthority) -> None:
    issued = ca.issue("henry@example.org", key_type="p256")
    records = ca.records("HENRY@example.org")
    assert [r.serial for r in records] == [issued.record.serial]
    assert records[0].certificate == issued.certificate
    assert records[0].to_dict()["status"] == "valid"
    assert records[0].status(at=records[0].not_after + timedelta(seconds=1)) == "expired"


def test_mailseal_reports_revoked_signer_from_crl(tmp_path: Path) -> None:
    authority = CertificateAuthority.create("Verify CA", PASS, directory=tmp_path / "ca", key_type="p256")
    issued = authority.issue("ivy@example.org", key_type="p256")
    identity = mailseal.Identity.from_pkcs12(authority.pkcs12(issued, b"pw"), b"pw")
    message = b"From: ivy@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhello\r\n"
    signed = mailseal.sign(message, identity)
    trust = TrustStore((authority.certificate,))
    der = serialization.Encoding.DER
    clean = authority.crl().public_bytes(der)
    before = mailseal.verify(signed, ValidationContext(trust=trust, crls=(clean,), revocation_mode="hard-fail"))
    assert before.status == "valid", before.signers[0].reasons
    authority.revoke(issued.record.serial, "keyCompromise")
    crl = authority.crl().public_bytes(der)
    after = mailseal.verify(signed, ValidationContext(trust=trust, crls=(crl,), revocation_mode="hard-fail"))
    assert after.status == "revoked", after.signers[0].reasons


def test_certificate_may_not_outlive_ca(tmp_path: Path) -> None:
    authority = CertificateAuthority.create("Short CA", PASS, directory=tmp_path / "ca", key_type="p256", days=10)
    with pytest.raises(UsageError, match="outlive"):
        authority.issue("x@example.org", key_type="p256", days=30)
    assert authority.records() == []
    assert authority.certificate.not_valid_after_utc < datetime.now(UTC) + timedelta(days=11)

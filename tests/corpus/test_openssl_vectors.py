"""Vectors from the OpenSSL 3.5 test tree: malformed signed attributes, legacy ciphertext, MD4, unsuitable certs."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

import mailseal
from mailseal.cms import check_signed_data, decrypt_data, load_certificates
from mailseal.errors import MailsealError, NotEncryptedError
from mailseal.pki import signing_usage_problems
from tests.corpus._support import identity, trust, utc

BAD_ATTRS = [
    "bad_signtime_attr.cms",  # signingTime sent as an unsigned attribute (RFC 5652 §11.3: MUST be signed)
    "no_ct_attr.cms",  # signed attributes without content-type
    "no_md_attr.cms",  # signed attributes without message-digest
    "ct_multiple_attr.cms",  # content-type attribute twice
]
MESSAGE = b"From: codesign@example.org\r\nTo: bob@example.org\r\nSubject: corpus\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def ossl(corpus: Path) -> Path:
    return corpus / "openssl_tests" / "test"


@pytest.mark.parametrize("name", BAD_ATTRS)
def test_bad_signed_attributes_fail(ossl: Path, name: str) -> None:
    der = (ossl / "recipes" / "80-test_cms_data" / name).read_bytes()
    check = check_signed_data(der)
    assert len(check.signers) == 1
    assert not check.signers[0].intact
    assert check.signers[0].failure


@pytest.mark.parametrize("name", BAD_ATTRS)
def test_bad_signed_attributes_report_invalid_signature(ossl: Path, name: str) -> None:
    der = (ossl / "recipes" / "80-test_cms_data" / name).read_bytes()
    report = mailseal.verify(der, trust=trust(ossl / "smime-certs" / "smroot.pem"), at=utc(2020))
    assert [(s.status, s.intact) for s in report.signers] == [("invalid-signature", False)]
    assert not report.valid


def test_ciphertext_from_1_1_1_decrypts(ossl: Path) -> None:
    """ECDH (kari) recipients from OpenSSL 1.1.1; decrypts with smec3 to smcont.txt, byte for byte."""
    msg = email.message_from_bytes(
        (ossl / "recipes" / "80-test_cms_data" / "ciphertext_from_1_1_1.cms").read_bytes(), policy=email.policy.compat32
    )
    der = msg.get_payload(decode=True)
    assert isinstance(der, bytes)
    smec3 = identity(ossl / "smime-certs" / "smec3.pem")
    result = decrypt_data(der, smec3.private_key, smec3.certificate)
    assert result.content == (ossl / "smcont.txt").read_bytes()


def test_md4_signature_fails_cleanly(ossl: Path) -> None:
    """MD4 is refused: the report says the signer is not intact; nothing crashes."""
    data = (ossl / "recipes" / "80-test_cms_data" / "pkcs7-md4.pem").read_bytes()
    check = check_signed_data(data)
    assert [s.intact for s in check.signers] == [False]
    assert check.signers[0].failure
    report = mailseal.verify(data)
    assert [(s.status, s.intact) for s in report.signers] == [("invalid-signature", False)]


def test_md4_signed_and_enveloped_fails_with_typed_error(ossl: Path) -> None:
    """PKCS#7 signedAndEnvelopedData with MD4: refused with a typed error, never a crash."""
    data = (ossl / "recipes" / "80-test_cms_data" / "pkcs7-md4-encrypted.pem").read_bytes()
    smec3 = identity(ossl / "smime-certs" / "smec3.pem")
    with pytest.raises(NotEncryptedError):
        mailseal.verify(data)
    with pytest.raises(MailsealError):
        mailseal.open(data, [smec3])


def test_code_signing_certificate_may_not_sign_mail(ossl: Path) -> None:
    cert = load_certificates((ossl / "smime-certs" / "csrsa1.pem").read_bytes())[0]
    problems = signing_usage_problems(cert)
    assert any("emailProtection" in p for p in problems)


def test_signature_by_code_signing_certificate_is_usage_not_allowed(ossl: Path) -> None:
    """csrsa1.pem includes its key: sign with the library, then verification must refuse the usage."""
    signer = identity(ossl / "smime-certs" / "csrsa1.pem")
    signed = mailseal.sign(MESSAGE, signer, allow_from_mismatch=True)  # a code-signing certificate names no address
    report = mailseal.verify(signed, trust=trust(ossl / "smime-certs" / "smroot.pem"), at=utc(2024))
    assert [(s.status, s.intact) for s in report.signers] == [("usage-not-allowed", True)]
    assert not report.valid


@pytest.mark.filterwarnings("ignore:Parsed a serial number")
def test_encrypting_to_malformed_rsa_key_fails_cleanly(ossl: Path) -> None:
    with pytest.raises(MailsealError):
        recipients = load_certificates((ossl / "smime-certs" / "badrsa.pem").read_bytes())
        mailseal.encrypt(MESSAGE, recipients)


def test_pkits_4_10_7_invalid_mapping_from_any_policy_fails(ossl: Path) -> None:
    """The signature is intact, but the path maps anyPolicy (PKITS 4.10.7 is invalid): the signer is untrusted."""
    report = mailseal.verify(
        (ossl / "smime-eml" / "SignedInvalidMappingFromanyPolicyTest7.eml").read_bytes(),
        trust=trust(ossl / "certs" / "pkitsta.pem"),
        at=utc(2020),
    )
    assert [(s.status, s.intact, s.trusted) for s in report.signers] == [("untrusted", True, False)]
    assert not report.valid

"""The internal CA with post-quantum keys: an ML-DSA CA, ML-DSA signing and ML-KEM encryption certificates
(RFC 9881 §5, RFC 9935 §5 key usage), their key files, and mail that goes through all of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

import mailseal
from mailseal.cms import decrypt_data, envelope_data
from mailseal.cms.identity import Identity
from mailseal.errors import UsageError
from mailseal.pki.authority import CertificateAuthority, decrypt_key
from mailseal.pki.profile import check_certificate, key_problems

PASS = b"correct horse"
MESSAGE = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: pq\r\n\r\nafter the quantum computer\r\n"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create("PQ CA", PASS, directory=tmp_path_factory.mktemp("pqca") / "ca",
                                       key_type="ml-dsa-65")


def _ku(cert: x509.Certificate) -> x509.KeyUsage:
    return cert.extensions.get_extension_for_class(x509.KeyUsage).value


def test_the_ca_key_is_ml_dsa_and_reloads_from_its_sealed_file(ca: CertificateAuthority) -> None:
    assert isinstance(ca.key, mldsa.MLDSA65PrivateKey)
    assert ca.certificate.signature_algorithm_oid.dotted_string == "2.16.840.1.101.3.4.3.18"
    again = decrypt_key((ca.directory / "ca-key.json").read_bytes(), PASS)
    assert again.public_key() == ca.key.public_key()


@pytest.mark.parametrize("key_type", ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87"])
def test_ml_dsa_signing_certificate(ca: CertificateAuthority, key_type: str) -> None:
    issued = ca.issue(f"{key_type}@example.org", usage="sign", key_type=key_type)
    ku = _ku(issued.certificate)
    assert ku.digital_signature and ku.content_commitment
    assert not (ku.key_encipherment or ku.key_agreement or ku.data_encipherment)
    issued.certificate.verify_directly_issued_by(ca.certificate)
    verdict = check_certificate(issued.certificate)
    assert verdict.can_sign and not verdict.can_encrypt
    assert any("can only sign" in r for r in verdict.reasons_encrypt)


@pytest.mark.parametrize("key_type", ["ml-kem-768", "ml-kem-1024"])
def test_ml_kem_encryption_certificate(ca: CertificateAuthority, key_type: str) -> None:
    issued = ca.issue(f"{key_type}@example.org", usage="encrypt", key_type=key_type)
    ku = _ku(issued.certificate)
    # RFC 9935 §5: keyEncipherment is the only key usage.
    assert [n for n in ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                        "key_agreement", "key_cert_sign", "crl_sign") if getattr(ku, n)] == ["key_encipherment"]
    verdict = check_certificate(issued.certificate)
    assert verdict.can_encrypt and not verdict.can_sign


def test_contradictory_usages_are_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(UsageError, match="can only sign"):
        ca.issue("x@example.org", usage="encrypt", key_type="ml-dsa-44")
    with pytest.raises(UsageError, match="can only decrypt"):
        ca.issue("x@example.org", usage="dual", key_type="ml-kem-768")


def test_profile_refuses_forbidden_key_usage_bits(ca: CertificateAuthority, tmp_path: Path) -> None:
    """RFC 9935 §5: an ML-KEM certificate with digitalSignature as well is out of profile."""
    key = mlkem.MLKEM768PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "bad")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.certificate.subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(ca.certificate.not_valid_before_utc)
            .not_valid_after(ca.certificate.not_valid_after_utc)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .sign(ca.key, None))
    assert key_problems(cert) == ["an ML-KEM certificate's key usage must not include digital_signature "
                                  "(RFC 9935 §5)"]


def test_pq_subscriber_file_is_a_pem_bundle_that_loads_as_an_identity(ca: CertificateAuthority,
                                                                      tmp_path: Path) -> None:
    issued = ca.issue("bundle@example.org", usage="encrypt", key_type="ml-kem-768")
    data = ca.pkcs12(issued, "pw")
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") and data.count(b"BEGIN CERTIFICATE") == 2
    path = tmp_path / "bundle.pem"
    path.write_bytes(data)
    identity = Identity.load(path, password="pw")
    assert identity.certificate == issued.certificate and ca.certificate in identity.chain
    sealed = envelope_data(b"for bundle", [issued.certificate])
    assert decrypt_data(sealed, identity.private_key, identity.certificate).content == b"for bundle"


def test_all_post_quantum_mail_round_trip(ca: CertificateAuthority) -> None:
    """An ML-DSA CA, an ML-DSA-44 signer, an ML-KEM-768 recipient: signed, encrypted, opened, valid."""
    alice = ca.issue("alice@example.org", usage="sign", key_type="ml-dsa-44")
    bob = ca.issue("bob@example.org", usage="encrypt", key_type="ml-kem-768")
    signer = Identity(alice.key, alice.certificate, (ca.certificate,))
    sealed = mailseal.encrypt(mailseal.sign(MESSAGE, signer), [bob.certificate])
    opened = mailseal.open(sealed, [Identity(bob.key, bob.certificate, ())],
                           trust=mailseal.TrustStore(anchors=(ca.certificate,)))
    assert [layer["kind"] for layer in opened.report.to_dict()["layers"]] == ["auth-enveloped", "signed"]
    assert opened.report.status == "valid", opened.report.to_dict()
    assert opened.report.signers[0].signature_algorithm == "ml_dsa_44"
    assert b"after the quantum computer" in opened.inner.region.read_all(1 << 20)

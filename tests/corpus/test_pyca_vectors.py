"""PKCS#7 vectors from pyca's cryptography-vectors: enveloped data, certs-only bundles, SAN e-mail forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7

import mailseal
from mailseal.cms import check_signed_data, decrypt_data, load_certificates
from mailseal.errors import MalformedCMSError
from mailseal.pki import certificate_emails
from tests.corpus._support import identity

# (bundle, encoding, expected subjects in order): the pyca vector tests name the same certificates.
BUNDLES = [
    ("isrg.pem", "pem", ["CN=ISRG Root X1,O=Internet Security Research Group,C=US"]),
    ("amazon-roots.der", "der", ["CN=Amazon Root CA 3,O=Amazon,C=US", "CN=Amazon Root CA 2,O=Amazon,C=US"]),
    ("amazon-roots.p7b", "ber", ["CN=Amazon Root CA 3,O=Amazon,C=US", "CN=Amazon Root CA 2,O=Amazon,C=US"]),
]


@pytest.fixture(scope="module")
def pyca(corpus: Path) -> Path:
    return corpus / "pyca_pkcs7"


@pytest.fixture(scope="module")
def custom_ca(pyca: Path) -> mailseal.Identity:
    keys = pyca / "keys_from_x509_custom_ca"
    return identity(keys / "rsa_key.pem", keys / "rsa_ca.pem")


def test_rsa_oaep_decrypts_to_hello_world(pyca: Path, custom_ca: mailseal.Identity) -> None:
    data = (pyca / "enveloped-rsa-oaep.pem").read_bytes()
    result = decrypt_data(data, custom_ca.private_key, custom_ca.certificate)
    assert result.content == b"Hello, world!"
    assert result.key_algorithm == "rsaes_oaep"
    assert mailseal.decrypt(data, custom_ca) == b"Hello, world!"


def test_triple_des_decrypts(pyca: Path, custom_ca: mailseal.Identity) -> None:
    data = (pyca / "enveloped-triple-des.pem").read_bytes()
    result = decrypt_data(data, custom_ca.private_key, custom_ca.certificate)
    assert result.content == b"Hello, World!\r\n"
    assert result.content_algorithm == "tripledes_3key"


def test_enveloped_without_content_fails(pyca: Path, custom_ca: mailseal.Identity) -> None:
    data = (pyca / "enveloped-no-content.der").read_bytes()
    with pytest.raises(MalformedCMSError):
        decrypt_data(data, custom_ca.private_key, custom_ca.certificate)
    with pytest.raises(MalformedCMSError):
        mailseal.decrypt(data, custom_ca)


def test_enveloped_to_draft_lamps_alice_and_bob(pyca: Path, corpus: Path) -> None:
    """3DES to the draft-LAMPS Alice and Bob (their keys are in autocrypt_protected_headers/): both read the same."""
    keys = corpus / "autocrypt_protected_headers"
    data = (pyca / "enveloped.pem").read_bytes()
    results = []
    for who in ("alice", "bob"):
        ident = identity(keys / f"{who}.key.pem", keys / f"{who}.cert.pem")
        results.append(decrypt_data(data, ident.private_key, ident.certificate))
    assert [r.content_algorithm for r in results] == ["tripledes_3key"] * 2
    assert sorted(r.recipient_index for r in results) == [0, 1]
    assert results[0].content == results[1].content
    assert results[0].content.startswith(b"Content-Transfer-Encoding: base64\r\nContent-Type: application/pkcs7-mime")


@pytest.mark.parametrize(("bundle", "encoding", "subjects"), BUNDLES, ids=[b[0] for b in BUNDLES])
def test_certs_only_bundle_loads(pyca: Path, bundle: str, encoding: str, subjects: list[str]) -> None:
    data = (pyca / bundle).read_bytes()
    loaded = load_certificates(data)
    assert [c.subject.rfc4514_string() for c in loaded] == subjects
    # Cross-check with pyca's own PKCS#7 loader (an independent implementation); it reads DER, so the
    # indefinite-length BER bundle is compared with its DER twin.
    if encoding == "pem":
        reference = pkcs7.load_pem_pkcs7_certificates(data)
    else:
        if encoding == "ber":
            assert data[1] == 0x80, "the .p7b bundle is expected to use indefinite-length BER"
        reference = pkcs7.load_der_pkcs7_certificates((pyca / bundle.replace(".p7b", ".der")).read_bytes())
    assert loaded == reference


@pytest.mark.parametrize(("bundle", "encoding", "subjects"), BUNDLES, ids=[b[0] for b in BUNDLES])
def test_certs_only_bundle_as_trust_store(pyca: Path, bundle: str, encoding: str, subjects: list[str]) -> None:
    store = mailseal.TrustStore.from_files([pyca / bundle])
    assert [c.subject.rfc4514_string() for c in store.anchors] == subjects


@pytest.mark.parametrize(("bundle", "encoding", "subjects"), BUNDLES, ids=[b[0] for b in BUNDLES])
def test_certs_only_bundle_has_no_signers(pyca: Path, bundle: str, encoding: str, subjects: list[str]) -> None:
    check = check_signed_data((pyca / bundle).read_bytes())
    assert check.signers == ()
    assert len(check.certificates) == len(subjects)


def test_authenticode_is_rejected_explicitly(pyca: Path) -> None:
    """Its eContent is not an OCTET STRING: a typed MalformedCMSError, never a crash or a verdict."""
    data = (pyca / "authenticode.der").read_bytes()
    with pytest.raises(MalformedCMSError):
        check_signed_data(data)
    with pytest.raises(MalformedCMSError):
        mailseal.verify(data)


@pytest.mark.parametrize(
    ("cert", "emails"),
    [("ascii-san.pem", ["retourne@example.com"]), ("non-ascii-san.pem", ["retourné@example.com"])],
    ids=["SmtpUTF8Mailbox", "non-ascii-rfc822Name"],
)
def test_san_addresses(pyca: Path, cert: str, emails: list[str]) -> None:
    assert certificate_emails(load_certificates((pyca / cert).read_bytes())[0]) == emails

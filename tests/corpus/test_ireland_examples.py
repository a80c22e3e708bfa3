"""draft-ireland-examples-cms on the RFC 9216 keys: every object holds the sample content and verifies/decrypts.

Trust anchors: the RFC 9216 RSA and Ed25519 CAs (valid 2019/2020..2052); validation at a fixed 2024-01-01.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

import mailseal
from mailseal.cms import check_signed_data, decrypt_data
from mailseal.errors import KeyCertificateMismatchError, NoMatchingRecipientError
from tests.corpus._support import SAMPLE, certs, identity, trust, utc

AT = utc(2024)
ENCODINGS = [("binary-files", ".p7m"), ("pem-encoded", ".pem")]
ENC_IDS = ["der", "pem"]
# (object, [(signer e-mail, digest, signature algorithm)], detached, certificates included)
SIGNED = [
    ("signedByAliceRSA", [("alice@smime.example", "sha256", "rsassa_pkcs1v15")], False, True),
    ("signedByAliceRSAPSS", [("alice@smime.example", "sha256", "rsassa_pss")], False, True),
    ("signedByCarlosEd25519", [("carlos@smime.example", "sha512", "ed25519")], False, True),
    ("signedByCarlosDetached", [("carlos@smime.example", "sha512", "ed25519")], True, True),
    (
        "signedByAliceAndCarlosNoCerts",
        [("carlos@smime.example", "sha512", "ed25519"), ("alice@smime.example", "sha256", "rsassa_pkcs1v15")],
        False,
        False,
    ),
]
SIGNED_IDS = [case[0] for case in SIGNED]
# (object, recipient, kind, content algorithm, key algorithm)
ENCRYPTED = [
    ("encryptedForBobRSAOaep", "bob", "enveloped", "aes128_cbc", "rsaes_oaep"),
    ("encryptedForBobAndDana", "bob", "enveloped", "aes128_cbc", "rsaes_oaep"),
    ("encryptedForBobAndDana", "dana", "enveloped", "aes128_cbc", "dh_single_pass_stddh_sha256kdf"),
    ("authEnvelopedForBobChaCha20Poly1305", "bob", "auth-enveloped", "chacha20_poly1305", "rsaes_oaep"),
    ("authEnvelopedForDanaX25519HKDF", "dana", "auth-enveloped", "aes128_gcm", "dh_single_pass_stddh_hkdf_sha256"),
]
ENCRYPTED_IDS = [f"{case[0]}-{case[1]}" for case in ENCRYPTED]
NOT_FOR = [
    ("encryptedForBobRSAOaep", "dana"),
    ("authEnvelopedForBobChaCha20Poly1305", "dana"),
    ("authEnvelopedForDanaX25519HKDF", "bob"),
]


@pytest.fixture(scope="module")
def ireland(corpus: Path) -> Path:
    return corpus / "ireland_examples_cms"


@pytest.fixture(scope="module")
def anchors(corpus: Path) -> mailseal.TrustStore:
    ca = corpus / "rfc9216" / "from_wbond_certvalidator"
    return trust(
        ca / "Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem",
        ca / "Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem",
    )


def _obj(ireland: Path, name: str, encoding: tuple[str, str]) -> bytes:
    folder, ext = encoding
    return (ireland / folder / f"{name}{ext}").read_bytes()


def _signer_certs(ireland: Path) -> list[x509.Certificate]:
    return certs(ireland / "certs-and-keys" / "lamps-alice.crt", ireland / "certs-and-keys" / "lamps-carlos.crt")


def _ident(ireland: Path, who: str) -> mailseal.Identity:
    keys = ireland / "certs-and-keys"
    return identity(keys / f"lamps-{who}.decrypt.p8.pem", keys / f"lamps-{who}.encrypt.crt")


@pytest.mark.parametrize("encoding", ENCODINGS, ids=ENC_IDS)
@pytest.mark.parametrize(("name", "signers", "detached", "with_certs"), SIGNED, ids=SIGNED_IDS)
def test_signed_object_is_intact(
    ireland: Path,
    name: str,
    signers: list[tuple[str, str, str]],
    detached: bool,
    with_certs: bool,
    encoding: tuple[str, str],
) -> None:
    extra = [] if with_certs else _signer_certs(ireland)
    check = check_signed_data(_obj(ireland, name, encoding), SAMPLE if detached else None, extra)
    assert check.content == (None if detached else SAMPLE)
    assert check.detached is detached
    assert [(s.intact, s.failure) for s in check.signers] == [(True, None)] * len(signers)
    assert [(s.digest_algorithm, s.signature_algorithm) for s in check.signers] == [sig[1:] for sig in signers]


@pytest.mark.parametrize("encoding", ENCODINGS, ids=ENC_IDS)
@pytest.mark.parametrize(("name", "signers", "detached", "with_certs"), SIGNED, ids=SIGNED_IDS)
def test_signed_object_is_valid(
    ireland: Path,
    anchors: mailseal.TrustStore,
    name: str,
    signers: list[tuple[str, str, str]],
    detached: bool,
    with_certs: bool,
    encoding: tuple[str, str],
) -> None:
    """Every signer valid against the RFC 9216 CAs; a bare CMS object has no From, so each signer stands alone."""
    report = mailseal.verify(
        _obj(ireland, name, encoding),
        trust=anchors,
        at=AT,
        extra_certificates=[] if with_certs else _signer_certs(ireland),
        detached_content=SAMPLE if detached else None,
    )
    assert [(s.status, s.intact, s.trusted) for s in report.signers] == [("valid", True, True)] * len(signers)
    assert [s.emails for s in report.signers] == [[sig[0]] for sig in signers]
    assert report.status == "valid"


def test_no_certs_object_without_certificates_names_unknown_signers(
    ireland: Path, anchors: mailseal.TrustStore
) -> None:
    report = mailseal.verify(_obj(ireland, "signedByAliceAndCarlosNoCerts", ENCODINGS[0]), trust=anchors, at=AT)
    assert [(s.status, s.intact, s.certificate) for s in report.signers] == [("unknown-signer", False, None)] * 2


def test_detached_ed25519_fails_without_content(ireland: Path) -> None:
    check = check_signed_data(_obj(ireland, "signedByCarlosDetached", ENCODINGS[0]), None, [])
    assert [s.intact for s in check.signers] == [False]


def test_detached_ed25519_fails_with_altered_content(ireland: Path) -> None:
    check = check_signed_data(_obj(ireland, "signedByCarlosDetached", ENCODINGS[0]), SAMPLE.upper(), [])
    assert [s.intact for s in check.signers] == [False]


def test_signed_object_untrusted_without_the_ca(ireland: Path, corpus: Path) -> None:
    """The anchor matters: Alice's chain does not reach the Ed25519 CA alone."""
    ca = corpus / "rfc9216" / "from_wbond_certvalidator" / "Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem"
    report = mailseal.verify(_obj(ireland, "signedByAliceRSA", ENCODINGS[0]), trust=trust(ca), at=AT)
    assert [(s.status, s.intact) for s in report.signers] == [("untrusted", True)]


@pytest.mark.parametrize("encoding", ENCODINGS, ids=ENC_IDS)
@pytest.mark.parametrize(("name", "who", "kind", "content_alg", "key_alg"), ENCRYPTED, ids=ENCRYPTED_IDS)
def test_encrypted_object_decrypts(
    ireland: Path, name: str, who: str, kind: str, content_alg: str, key_alg: str, encoding: tuple[str, str]
) -> None:
    ident = _ident(ireland, who)
    result = decrypt_data(_obj(ireland, name, encoding), ident.private_key, ident.certificate)
    assert result.content == SAMPLE
    assert (result.kind, result.content_algorithm, result.key_algorithm) == (kind, content_alg, key_alg)
    assert result.integrity_protected is (kind == "auth-enveloped")


@pytest.mark.parametrize(("name", "who", "kind", "content_alg", "key_alg"), ENCRYPTED, ids=ENCRYPTED_IDS)
def test_encrypted_object_opens_via_api(
    ireland: Path, name: str, who: str, kind: str, content_alg: str, key_alg: str
) -> None:
    opened = mailseal.open(_obj(ireland, name, ENCODINGS[0]), [_ident(ireland, who)])
    assert opened.entity == SAMPLE
    assert [layer.kind for layer in opened.report.layers] == [kind]
    assert opened.report.encrypted and not opened.report.signed


@pytest.mark.parametrize(("name", "who"), NOT_FOR, ids=[f"{n}-{w}" for n, w in NOT_FOR])
def test_encrypted_object_refuses_other_recipient(ireland: Path, name: str, who: str) -> None:
    with pytest.raises(NoMatchingRecipientError):
        mailseal.decrypt(_obj(ireland, name, ENCODINGS[0]), _ident(ireland, who))


@pytest.mark.parametrize("who", ["bob", "dana"])
def test_kekri_without_the_kek_fails_cleanly(ireland: Path, who: str) -> None:
    """The KEK value is not published: no certificate key may open it, and the failure is typed."""
    with pytest.raises(NoMatchingRecipientError):
        mailseal.decrypt(_obj(ireland, "encryptedKekri", ENCODINGS[1]), _ident(ireland, who))


@pytest.mark.parametrize(
    ("key", "cert"),
    [
        ("keys_from_ireland_examples_cms/lamps-alice.p8.pem", "from_wbond_certvalidator/alice@smime.example.sig.pem"),
        ("from_wbond_certvalidator/alice@smime.example.sig.pem", None),
        (
            "keys_from_ireland_examples_cms/lamps-bob.decrypt.p8.pem",
            "from_wbond_certvalidator/bob@smime.example.enc.pem",
        ),
        ("keys_from_ireland_examples_cms/lamps-carlos.p8.pem", "from_wbond_certvalidator/carlos@smime.example.sig.pem"),
    ],
    ids=["alice-sign", "alice-sign-pem-bundle", "bob-decrypt", "carlos-sign"],
)
def test_rfc9216_private_keys_match_their_certificates(corpus: Path, key: str, cert: str | None) -> None:
    base = corpus / "rfc9216"
    ident = identity(base / key, base / cert if cert else None)
    assert ident.certificate.subject.rfc4514_string().endswith("OU=LAMPS WG,O=IETF")


def test_rfc9216_key_does_not_match_another_certificate(corpus: Path) -> None:
    base = corpus / "rfc9216"
    with pytest.raises(KeyCertificateMismatchError):
        identity(
            base / "keys_from_ireland_examples_cms/lamps-alice.p8.pem",
            base / "from_wbond_certvalidator/bob@smime.example.enc.pem",
        )

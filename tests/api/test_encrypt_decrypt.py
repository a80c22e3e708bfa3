"""Encryption and decryption rules of issue 2 (RFC 5652 §6, RFC 5083, RFC 5084, RFC 8103, RFC 5753, RFC 8418)."""

from __future__ import annotations

import base64

import pytest
from asn1crypto import cms

import mailseal
from mailseal.cms import decrypt_data, envelope_data
from mailseal.errors import (
    DecryptionError,
    NoMatchingRecipientError,
    RecipientError,
    UnsupportedAlgorithmError,
)
from mailseal.mime import Entity
from tests.support.messages import MESSAGE, ident
from tests.support.testpki import TestPKI

CIPHERS = ["aes256-gcm", "aes128-gcm", "chacha20-poly1305", "aes256-cbc", "aes128-cbc"]
RECIPIENT_KEYS = ["rsa2048", "ec-p256", "ec-p384", "ec-p521", "x25519", "x448"]


def cms_of(message: bytes) -> bytes:
    return Entity.parse(message).decoded_body()


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("key_type", RECIPIENT_KEYS)
def test_encrypt_then_decrypt_round_trip(pki: TestPKI, key_type: str, cipher: str) -> None:
    bob = pki.user("bob", key_type)
    sealed = mailseal.encrypt(MESSAGE, [bob.cert], cipher=cipher)
    expected_type = b"authEnveloped-data" if cipher in ("aes256-gcm", "aes128-gcm", "chacha20-poly1305") else (
        b"enveloped-data")
    assert b"smime-type=" + expected_type in sealed
    assert b"this is a test" not in sealed
    plain = mailseal.decrypt(sealed, ident(bob))
    assert plain.endswith(b"Hello Bob,\r\nthis is a test.\r\n")
    assert b"Subject: Test message" in plain


def test_default_is_aes256_gcm_auth_enveloped(pki: TestPKI) -> None:
    bob = pki.user("bob")
    info = cms.ContentInfo.load(cms_of(mailseal.encrypt(MESSAGE, [bob.cert])))
    assert info["content_type"].native == "authenticated_enveloped_data"
    eci = info["content"]["auth_encrypted_content_info"]
    assert eci["content_encryption_algorithm"]["algorithm"].native == "aes256_gcm"


def test_oaep_key_transport(pki: TestPKI) -> None:
    bob = pki.user("bob")
    der = cms_of(mailseal.encrypt(MESSAGE, [bob.cert], key_transport="oaep"))
    ri = cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen
    assert ri["key_encryption_algorithm"]["algorithm"].native == "rsaes_oaep"
    assert ri["key_encryption_algorithm"]["parameters"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert decrypt_data(der, bob.key, bob.cert).key_algorithm == "rsaes_oaep"  # type: ignore[arg-type]


@pytest.mark.parametrize("key_type", ["rsa2048", "ec-p256", "x25519"])
def test_subject_key_identifier_recipients(pki: TestPKI, key_type: str) -> None:
    bob = pki.user("bob", key_type)
    der = cms_of(mailseal.encrypt(MESSAGE, [bob.cert], recipient_id="ski"))
    ri = cms.ContentInfo.load(der)["content"]["recipient_infos"][0]
    if ri.name == "ktri":
        assert ri.chosen["rid"].name == "subject_key_identifier"
    else:
        assert ri.chosen["recipient_encrypted_keys"][0]["rid"].name == "r_key_id"
    assert mailseal.decrypt(der, ident(bob)) .endswith(b"this is a test.\r\n")


def test_many_recipients_any_position(pki: TestPKI) -> None:
    users = [pki.user(n, kt) for n, kt in (("r1", "rsa2048"), ("r2", "ec-p256"), ("r3", "x25519"), ("r4", "ec-p384"))]
    sealed = mailseal.encrypt(MESSAGE, [u.cert for u in users])
    positions = set()
    for user in users:
        opened = mailseal.open(sealed, [ident(user)])
        positions.add(opened.report.layers[0].recipient_index)
        assert opened.report.layers[0].recipient_count == 4
        assert opened.entity.endswith(b"this is a test.\r\n")
    assert positions == {0, 1, 2, 3}  # DER orders the SET OF RecipientInfo; each one is found wherever it is


def test_sender_can_be_included(pki: TestPKI) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    sealed = mailseal.encrypt(MESSAGE, [bob.cert], sender=ident(alice))
    assert mailseal.decrypt(sealed, ident(alice)).endswith(b"this is a test.\r\n")


def test_recipient_whose_key_usage_forbids_encryption_is_refused(pki: TestPKI) -> None:
    signer_only = pki.user("signonly", key_usage={"digitalSignature"})
    with pytest.raises(RecipientError):
        mailseal.encrypt(MESSAGE, [signer_only.cert])
    ec_sign_only = pki.user("ecsignonly", "ec-p256", key_usage={"digitalSignature"})
    with pytest.raises(RecipientError):
        mailseal.encrypt(MESSAGE, [ec_sign_only.cert])


def test_ed25519_certificate_cannot_receive(pki: TestPKI) -> None:
    with pytest.raises(RecipientError):
        mailseal.encrypt(MESSAGE, [pki.user("carlos", "ed25519").cert])


def test_wrong_key_is_opaque_decryption_error_or_no_match(pki: TestPKI) -> None:
    bob, eve = pki.user("bob"), pki.user("eve")
    sealed = mailseal.encrypt(MESSAGE, [bob.cert])
    with pytest.raises(NoMatchingRecipientError):
        mailseal.decrypt(sealed, ident(eve))
    # Eve's key presented with Bob's certificate: the recipient matches, the key does not.
    der = cms_of(sealed)
    with pytest.raises(DecryptionError) as err:
        decrypt_data(der, eve.key, bob.cert)  # type: ignore[arg-type]
    assert str(err.value) == str(DecryptionError())


def _flip(der: bytes, target: bytes) -> bytes:
    at = der.index(target)
    return der[:at] + bytes([target[0] ^ 1]) + der[at + 1 :]


@pytest.mark.parametrize("cipher", ["aes256-gcm", "chacha20-poly1305", "aes128-cbc"])
def test_tampering_is_the_same_opaque_error(pki: TestPKI, cipher: str) -> None:
    bob = pki.user("bob")
    der = envelope_data(b"Content-Type: text/plain\r\n\r\nsecret\r\n", [bob.cert], cipher=cipher)
    info = cms.ContentInfo.load(der)
    auth = info["content_type"].native == "authenticated_enveloped_data"
    eci = info["content"]["auth_encrypted_content_info" if auth else "encrypted_content_info"]
    ciphertext = eci["encrypted_content"].native
    messages = set()
    for target in ([ciphertext[-4:], info["content"]["mac"].native] if auth else [ciphertext[-4:]]):
        with pytest.raises(DecryptionError) as err:
            decrypt_data(_flip(der, target), bob.key, bob.cert)  # type: ignore[arg-type]
        messages.add(str(err.value))
    enc_key = info["content"]["recipient_infos"][0].chosen["encrypted_key"].native
    with pytest.raises(DecryptionError) as err:
        decrypt_data(_flip(der, enc_key[10:20]), bob.key, bob.cert)  # type: ignore[arg-type]
    messages.add(str(err.value))
    assert len(messages) == 1


def test_auth_enveloped_with_cbc_is_refused(pki: TestPKI) -> None:
    bob = pki.user("bob")
    env = cms.ContentInfo.load(envelope_data(b"x", [bob.cert], cipher="aes128-cbc"))["content"]
    auth = cms.AuthEnvelopedData({
        "version": "v0",
        "recipient_infos": env["recipient_infos"],
        "auth_encrypted_content_info": env["encrypted_content_info"],
        "mac": b"\x00" * 16,
    })
    der = cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": auth}).dump()
    with pytest.raises(UnsupportedAlgorithmError):
        decrypt_data(der, bob.key, bob.cert)  # type: ignore[arg-type]


def test_cbc_without_signature_is_reported_integrity_not_protected(pki: TestPKI) -> None:
    bob = pki.user("bob")
    report = mailseal.open(mailseal.encrypt(MESSAGE, [bob.cert], cipher="aes256-cbc"), [ident(bob)]).report
    assert report.encrypted and not report.integrity_protected
    assert any("integrity not protected" in w for w in report.to_dict()["warnings"])
    gcm = mailseal.open(mailseal.encrypt(MESSAGE, [bob.cert]), [ident(bob)]).report
    assert gcm.integrity_protected


def test_cbc_with_valid_inner_signature_is_integrity_protected(pki: TestPKI) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    sealed = mailseal.encrypt(mailseal.sign(MESSAGE, ident(alice)), [bob.cert], cipher="aes256-cbc")
    report = mailseal.open(sealed, [ident(bob)], trust=mailseal.TrustStore.from_files([pki.root_path])).report
    assert report.integrity_protected and report.status == "valid"


def test_bare_cms_input_is_accepted(pki: TestPKI) -> None:
    bob = pki.user("bob", "ec-p256")
    der = envelope_data(b"raw content", [bob.cert])
    assert mailseal.decrypt(der, ident(bob)) == b"raw content"
    pem = b"-----BEGIN CMS-----\n" + base64.encodebytes(der) + b"-----END CMS-----\n"
    assert mailseal.decrypt(pem, ident(bob)) == b"raw content"


def test_implicit_rejection_is_deterministic(pki: TestPKI) -> None:
    """The substitute key depends on the private key and the ciphertext only: asking twice tells nothing."""
    from mailseal.cms.decryption import substitute_key

    bob, eve = pki.user("bob"), pki.user("eve")
    first = substitute_key(eve.key, b"\x01" * 256, 32)  # type: ignore[arg-type]
    assert first == substitute_key(eve.key, b"\x01" * 256, 32)  # type: ignore[arg-type]
    assert first != substitute_key(eve.key, b"\x02" * 256, 32)  # type: ignore[arg-type]
    assert first != substitute_key(bob.key, b"\x01" * 256, 32)  # type: ignore[arg-type]
    der = envelope_data(b"Content-Type: text/plain\r\n\r\nx\r\n", [bob.cert], cipher="aes256-cbc")
    outcomes = set()
    for _ in range(3):
        try:
            outcomes.add(decrypt_data(der, eve.key, bob.cert).content)  # type: ignore[arg-type]
        except DecryptionError:
            outcomes.add(b"error")
    assert len(outcomes) == 1

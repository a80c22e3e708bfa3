"""KEMRecipientInfo with ML-KEM (RFC 9629, RFC 9936): writing, reading, mixing with classical recipients, tampering."""

from __future__ import annotations

import pytest

from mailseal.cms import der
from mailseal.cms.algorithms import KEM_KDFS, ML_KEM_OIDS, OID_ORI_KEM, OID_RSA_ENCRYPTION, WRAP_OIDS
from mailseal.cms.decryption import decrypt_data
from mailseal.cms.enveloping import envelope_data
from mailseal.cms.kemri import KemRecipient, parse_kemri
from mailseal.errors import DecryptionError, MalformedCMSError, RecipientError, UnsupportedAlgorithmError
from tests.support.testpki import TestPKI

CONTENT = b"Content-Type: text/plain\r\n\r\nharvest now, decrypt never\r\n"


def _kemri_of(sealed: bytes) -> KemRecipient:
    """The first RecipientInfo of a one-recipient message, read as a KEMRecipientInfo."""
    start = sealed.index(b"\x31\x82")  # the SET OF RecipientInfo (long enough for a two-byte length)
    return parse_kemri(der.children(sealed[start : der._definite_end(sealed, start)])[0])


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, "the element to edit must occur exactly once"
    return data.replace(old, new)


@pytest.mark.parametrize("key_type", ["ml-kem-768", "ml-kem-1024"])
@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes128-gcm", "aes256-cbc", "chacha20-poly1305"])
@pytest.mark.parametrize("rid", ["issuer-serial", "ski"])
def test_ml_kem_round_trip(pki: TestPKI, key_type: str, cipher: str, rid: str) -> None:
    user = pki.user(f"kem-{key_type}", key_type)
    sealed = envelope_data(CONTENT, [user.cert], cipher=cipher, recipient_id=rid)  # type: ignore[arg-type]
    opened = decrypt_data(sealed, user.key, user.cert)
    assert opened.content == CONTENT
    assert opened.key_algorithm == key_type.replace("-", "_")
    assert der.oid(OID_ORI_KEM) in sealed


def test_enveloped_data_version_is_3_with_a_kem_recipient(pki: TestPKI) -> None:
    """RFC 5652 §6.1: an ori RecipientInfo makes the EnvelopedData version 3."""
    user = pki.user("kem-v3", "ml-kem-768")
    sealed = envelope_data(CONTENT, [user.cert], cipher="aes256-cbc")
    # ContentInfo(indef) OID [0](indef) SEQUENCE(indef) INTEGER
    assert sealed[15:20] == b"\x30\x80\x02\x01\x03"


def test_kemri_fields_follow_rfc_9936(pki: TestPKI) -> None:
    user = pki.user("kem-fields", "ml-kem-1024")
    sealed = envelope_data(CONTENT, [user.cert], cipher="aes256-gcm")
    info = _kemri_of(sealed)
    assert (info.kem, info.kdf, info.kek_length, info.wrap, info.ukm) == (
        "ml-kem-1024", "hkdf-sha256", 32, "aes256_wrap", None,
    )
    assert len(info.kemct) == 1568  # FIPS 203: ML-KEM-1024 ciphertext


def test_mixed_recipients_each_open_the_same_message(pki: TestPKI) -> None:
    users = [pki.user("mix-kem", "ml-kem-768"), pki.user("mix-rsa", "rsa2048"), pki.user("mix-ec", "ec-p256"),
             pki.user("mix-x", "x25519"), pki.user("mix-kem2", "ml-kem-1024")]
    sealed = envelope_data(CONTENT, [u.cert for u in users], cipher="aes256-gcm")
    found = []
    for user in users:
        opened = decrypt_data(sealed, user.key, user.cert)
        assert (opened.content, opened.recipient_count) == (CONTENT, 5)
        found.append((opened.recipient_index, opened.key_algorithm))
    # The SET OF RecipientInfo is sorted (DER), so each recipient is found at its own place, not the input order.
    assert sorted(i for i, _ in found) == [0, 1, 2, 3, 4]
    assert [a for _, a in found] == ["ml_kem_768", "rsaes_pkcs1v15", "dh_single_pass_stddh_sha256kdf",
                                     "dh_single_pass_stddh_sha256kdf", "ml_kem_1024"]
    # Without a certificate the ML-KEM key is tried on each KEM recipient and finds its own.
    assert decrypt_data(sealed, users[4].key).content == CONTENT


def test_ml_kem_certificate_without_key_encipherment_is_refused(pki: TestPKI) -> None:
    user = pki.user("kem-ku", "ml-kem-768", key_usage={"digitalSignature"})
    with pytest.raises(RecipientError, match="keyEncipherment"):
        envelope_data(CONTENT, [user.cert])


# -- Tampering: every failure that depends on the key is the same opaque DecryptionError ----------------------


def _sealed_for(pki: TestPKI, cipher: str = "aes256-gcm") -> tuple[bytes, object, object]:
    user = pki.user("kem-tamper", "ml-kem-768")
    return envelope_data(CONTENT, [user.cert], cipher=cipher), user.key, user.cert


def _decryption_failure(sealed: bytes, key: object, cert: object) -> tuple[str, str]:
    with pytest.raises(DecryptionError) as caught:
        decrypt_data(sealed, key, cert)  # type: ignore[arg-type]
    return caught.value.code, str(caught.value)


def _rsa_wrong_key_failure(pki: TestPKI) -> tuple[str, str]:
    user, other = pki.user("tamper-rsa", "rsa2048"), pki.user("tamper-rsa-other", "rsa2048")
    sealed = envelope_data(CONTENT, [user.cert])
    return _decryption_failure(sealed, other.key, user.cert)


@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes256-cbc"])
def test_flipped_kem_ciphertext_is_the_usual_decryption_error(pki: TestPKI, cipher: str) -> None:
    sealed, key, cert = _sealed_for(pki, cipher)
    info = _kemri_of(sealed)
    flipped = bytes([info.kemct[100] ^ 1])
    tampered = _replace_once(sealed, info.kemct, info.kemct[:100] + flipped + info.kemct[101:])
    assert _decryption_failure(tampered, key, cert) == _rsa_wrong_key_failure(pki)


def test_wrong_kdf_oid_is_the_usual_decryption_error(pki: TestPKI) -> None:
    """HKDF-SHA384 named in place of the sender's HKDF-SHA256: a different KEK, so unwrapping fails."""
    sealed, key, cert = _sealed_for(pki)
    tampered = _replace_once(sealed, der.oid(KEM_KDFS["hkdf-sha256"]), der.oid(KEM_KDFS["hkdf-sha384"]))
    assert _decryption_failure(tampered, key, cert) == _rsa_wrong_key_failure(pki)


def test_wrong_key_is_the_usual_decryption_error(pki: TestPKI) -> None:
    sealed, _key, cert = _sealed_for(pki)
    other = pki.user("kem-other", "ml-kem-768")
    assert _decryption_failure(sealed, other.key, cert) == _rsa_wrong_key_failure(pki)


def test_wrong_kem_parameter_set_is_the_usual_decryption_error(pki: TestPKI) -> None:
    """An ML-KEM-1024 key handed a message for the ML-KEM-768 certificate: no KEM is even attempted."""
    sealed, _key, cert = _sealed_for(pki)
    other = pki.user("kem-other-1024", "ml-kem-1024")
    assert _decryption_failure(sealed, other.key, cert) == _rsa_wrong_key_failure(pki)


def test_kek_length_must_match_the_wrap_algorithm(pki: TestPKI) -> None:
    """RFC 9936: implementations MUST confirm that kekLength fits the key-encryption algorithm."""
    sealed, key, cert = _sealed_for(pki)
    wrap = der.seq(der.oid(WRAP_OIDS["aes256_wrap"]))
    tampered = _replace_once(sealed, der.integer(32) + wrap, der.integer(16) + wrap)
    with pytest.raises(MalformedCMSError, match="kekLength 16"):
        decrypt_data(tampered, key, cert)  # type: ignore[arg-type]


def _kemri(kdf: bytes, kek_length: int = 32) -> bytes:
    """A hand-made ori KEMRecipientInfo with the given KDF AlgorithmIdentifier."""
    return der.tlv(0xA4, der.oid(OID_ORI_KEM) + der.seq(
        der.integer(0), der.tlv(0x80, b"k" * 20), der.seq(der.oid(ML_KEM_OIDS["ml-kem-768"])),
        der.octet_string(b"\x00" * 1088), kdf, der.integer(kek_length),
        der.seq(der.oid(WRAP_OIDS["aes256_wrap"])), der.octet_string(b"\x00" * 40),
    ))


def test_kmac_kdf_is_an_unsupported_algorithm() -> None:
    """RFC 9936 lets senders use KMAC256; pyca has no KMAC, so the recipient is refused by name."""
    with pytest.raises(UnsupportedAlgorithmError, match="kmac256"):
        parse_kemri(_kemri(der.seq(der.oid("2.16.840.1.101.3.4.2.22"))))


def test_hkdf_sha512_is_read() -> None:
    info = parse_kemri(_kemri(der.seq(der.oid(KEM_KDFS["hkdf-sha512"]))))
    assert (info.kdf, info.kek_length, info.rid) == ("hkdf-sha512", 32, der.tlv(0x80, b"k" * 20))


def test_ml_kem_as_key_transport_is_refused(pki: TestPKI) -> None:
    """RFC 9936 §3 forbids ML-KEM in a KeyTransRecipientInfo: the rsaEncryption OID is swapped for ML-KEM-768."""
    user = pki.user("ktri-kem", "rsa2048")
    sealed = envelope_data(CONTENT, [user.cert])
    rsa_alg = der.seq(der.oid(OID_RSA_ENCRYPTION), b"\x05\x00")
    kem_alg = der.seq(der.oid(ML_KEM_OIDS["ml-kem-768"]))
    tampered = _replace_once(sealed, rsa_alg, kem_alg)
    # The SET OF RecipientInfo and its one member shrink by the difference in length.
    delta = len(rsa_alg) - len(kem_alg)
    start = tampered.index(b"\x31\x82")
    set_len = int.from_bytes(tampered[start + 2 : start + 4], "big") - delta
    ri_len = int.from_bytes(tampered[start + 6 : start + 8], "big") - delta
    tampered = (tampered[: start + 2] + set_len.to_bytes(2, "big") + tampered[start + 4 : start + 6]
                + ri_len.to_bytes(2, "big") + tampered[start + 8 :])
    with pytest.raises(MalformedCMSError, match="RFC 9936"):
        decrypt_data(tampered, user.key, user.cert)

"""Token keys through the library: sign and decrypt with the key on a SoftHSM2 token, never in memory."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization

import mailseal
from mailseal.cms.token import TokenRSAPrivateKey, TokenURI
from mailseal.errors import DecryptionError, TokenError, UsageError
from mailseal.pki.truststore import TrustStore
from tests.pkcs11.softhsm import EC_ID, HSM, PIN_TOKEN, RSA_ID, admin_session

MESSAGE = b"From: hsm-rsa@example.org\r\nTo: bob@example.org\r\nSubject: t\r\n\r\nSigned on a token.\r\n"


def _trust(hsm: HSM) -> TrustStore:
    return TrustStore((hsm.pki.root_cert,))


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_private_key_on_token_is_sensitive_and_not_extractable(hsm: HSM, which: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    with admin_session(hsm.module) as session:
        key = session.get_key(ObjectClass.PRIVATE_KEY, id=RSA_ID if which == "rsa" else EC_ID)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.PRIVATE_EXPONENT if which == "rsa" else Attribute.VALUE]


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_token_key_refuses_export(hsm: HSM, which: str) -> None:
    key = hsm.identity(which).private_key
    with pytest.raises(TokenError) as info:
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert info.value.code == "token"
    with pytest.raises(TokenError):
        key.private_numbers()


@pytest.mark.parametrize(("which", "pss"), [("rsa", False), ("rsa", True), ("ec", False)],
                         ids=["rsa-pkcs1", "rsa-pss", "ecdsa-p256"])
def test_token_signs_mailseal_verifies(hsm: HSM, which: str, pss: bool) -> None:
    ident = hsm.identity(which)
    sender = f"hsm-{which}@example.org"
    signed = mailseal.sign(MESSAGE.replace(b"hsm-rsa@", sender.encode().replace(b"example.org", b"")), ident,
                           pss=pss)
    report = mailseal.verify(signed, trust=_trust(hsm))
    assert report.signers[0].intact
    assert report.signers[0].status == "valid", report.signers[0]


def test_certificate_is_read_from_the_token(hsm: HSM) -> None:
    ident = mailseal.Identity.from_token(hsm.uri(key_id=RSA_ID))
    assert ident.certificate == hsm.rsa_cert
    assert isinstance(ident.private_key, TokenRSAPrivateKey)


def test_key_found_by_label_gets_its_id(hsm: HSM) -> None:
    key = hsm.identity("ec").private_key
    assert key.uri.id == EC_ID  # type: ignore[union-attr]


@pytest.mark.parametrize(("which", "transport"), [("rsa", "pkcs1v15"), ("rsa", "oaep"), ("ec", "pkcs1v15")],
                         ids=["rsa-pkcs1", "rsa-oaep-sha256", "ecdh-p256"])
def test_mailseal_encrypts_token_decrypts(hsm: HSM, which: str, transport: str) -> None:
    ident = hsm.identity(which)
    enc = mailseal.encrypt(MESSAGE, [ident.certificate], key_transport=transport)  # type: ignore[arg-type]
    assert b"Signed on a token." in mailseal.decrypt(enc, ident)


def test_tampered_key_transport_fails_opaquely(hsm: HSM) -> None:
    """A token-side padding failure takes the implicit-rejection path: the same DecryptionError as a software key."""
    ident = hsm.identity("rsa")
    enc = mailseal.encrypt(MESSAGE, [ident.certificate], cipher="aes256-cbc")
    body = enc.split(b"\r\n\r\n", 1)[1]
    import base64

    info = cms.ContentInfo.load(base64.b64decode(body))
    ri = info["content"]["recipient_infos"][0].chosen
    ri["encrypted_key"] = bytes(x ^ 0xFF if i == 5 else x for i, x in enumerate(ri["encrypted_key"].native))
    tampered = enc.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + base64.encodebytes(info.dump()).replace(b"\n", b"\r\n")
    with pytest.raises(DecryptionError) as first:
        mailseal.decrypt(tampered, ident)
    with pytest.raises(DecryptionError) as second:
        mailseal.decrypt(tampered, ident)
    assert str(first.value) == str(second.value) == str(DecryptionError())


def test_rejection_secret_is_stable_and_per_key(hsm: HSM) -> None:
    rsa_key, ec_key = hsm.identity("rsa").private_key, hsm.identity("ec").private_key
    assert rsa_key.rejection_secret() == hsm.identity("rsa").private_key.rejection_secret()  # type: ignore[union-attr]
    assert rsa_key.rejection_secret() != ec_key.rejection_secret()  # type: ignore[union-attr]


def test_threads_sign_concurrently(hsm: HSM) -> None:
    """The gateway signs from worker threads: the session pool hands each thread its own session."""
    ident = hsm.identity("rsa")
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(mailseal.sign(MESSAGE, ident))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 24
    assert all(mailseal.verify(s, trust=_trust(hsm)).signers[0].intact for s in results)


def test_wrong_pin_is_a_token_error(hsm: HSM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_PKCS11_PIN", "0000-wrong")
    with pytest.raises(TokenError, match=r"PIN .* is wrong") as info:
        mailseal.Identity.from_token(hsm.uri(key_id=RSA_ID, token=PIN_TOKEN))
    assert info.value.code == "token"


def test_missing_pin_is_a_token_error(hsm: HSM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSEAL_PKCS11_PIN")
    with pytest.raises(TokenError, match="MAILSEAL_PKCS11_PIN"):
        mailseal.Identity.from_token(hsm.uri(key_id=RSA_ID, token=PIN_TOKEN))


def test_unknown_key_and_token(hsm: HSM) -> None:
    with pytest.raises(TokenError, match="no private key"):
        mailseal.Identity.from_token(hsm.uri(label="absent"))
    with pytest.raises(TokenError, match="no PKCS#11 token"):
        mailseal.Identity.from_token(hsm.uri(label="rsa", token="no-such-token"))


def test_key_and_certificate_must_match(hsm: HSM) -> None:
    with pytest.raises(mailseal.errors.KeyCertificateMismatchError):
        mailseal.Identity.from_token(hsm.uri(key_id=RSA_ID), hsm.ec_cert_path.read_bytes())


def test_identity_load_takes_a_uri(hsm: HSM, tmp_path: Path) -> None:
    ident = mailseal.Identity.load(hsm.uri(label="ec"), hsm.ec_cert_path)
    assert ident.certificate == hsm.ec_cert


# -- URIs (no token needed) ---------------------------------------------------------------------------------------


def test_uri_round_trip() -> None:
    uri = TokenURI(token="My Token", id=b"\x01\xff", object="key;1", module="/usr/lib/softhsm/libsofthsm2.so")
    text = str(uri)
    assert text == ("pkcs11:token=My%20Token;id=%01%ff;object=key%3B1;type=private"
                    "?module-path=/usr/lib/softhsm/libsofthsm2.so")
    assert TokenURI.parse(text) == uri


def test_uri_refuses_a_pin() -> None:
    with pytest.raises(UsageError, match="PIN"):
        TokenURI.parse("pkcs11:token=t;id=%01?pin-value=1234")
    with pytest.raises(UsageError, match="PIN"):
        TokenURI.parse("pkcs11:token=t;id=%01;pin-value=1234")


def test_uri_needs_token_and_key() -> None:
    with pytest.raises(UsageError, match="token"):
        TokenURI.parse("pkcs11:object=k")
    with pytest.raises(UsageError, match="key"):
        TokenURI.parse("pkcs11:token=t")


@pytest.mark.parametrize(("table", "message"), [
    ({"pin": "1234"}, "never read from the settings file"),
    ({"modul": "/x.so"}, "unknown setting 'modul'"),
    ({"module": 5}, "module must be a path"),
    ({"pin_env": ""}, "pin_env must name"),
])
def test_bad_pkcs11_settings_are_configuration_errors(table: dict[str, object], message: str) -> None:
    from mailseal.cms.token import TokenSettings
    from mailseal.errors import ConfigurationError, ErrorCode

    with pytest.raises(ConfigurationError, match=message) as info:
        TokenSettings.from_mapping(table)
    assert info.value.code == ErrorCode.CONFIGURATION

"""The same bad input through the library API: typed errors (``mailseal.errors``) with a stable ``.code``.

``mailseal.verify`` / ``mailseal.open`` report signatures that are not valid (a status, no exception) and raise for
input they cannot read; ``mailseal.decrypt`` raises ``NoMatchingRecipientError`` when the message names none of the
keys and ``DecryptionError`` when a named key fails, and that error looks the same whatever failed (no oracle).
``Identity.load`` raises ``PrivateKeyError`` / ``WrongPasswordError`` / ``KeyCertificateMismatchError`` /
``CertificateError``. Inputs are made with the library itself and then damaged.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import mailseal
from mailseal import Identity, TrustStore
from mailseal.errors import (
    CertificateError,
    DecryptionError,
    ErrorCode,
    KeyCertificateMismatchError,
    MailsealError,
    MalformedCMSError,
    MalformedMIMEError,
    NoMatchingRecipientError,
    NotEncryptedError,
    PasswordNeededError,
    PrivateKeyError,
    RecipientError,
    SignerError,
    WrongPasswordError,
)
from tests.support.testpki import PASSWORD, TestPKI, User

MESSAGE = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Bob Example <bob@example.org>\r\n"
    b"Subject: mailseal library errors\r\n"
    b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Hello Bob,\r\n\r\nthe figures for the third quarter follow separately.\r\n-- \r\nAlice\r\n"
)
GARBAGE_DER = b"\x30\x82\x01\x00" + bytes(range(256))
SIGNED_DATA_GARBAGE = b"\x30\x11\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x04\x04\x02xx"
NOT_MIME = b"\x00\x01\x02 binary garbage \xff\xfe\x00 with no header \x80\x81"


def from_(sender: str) -> bytes:
    return MESSAGE.replace(b"alice@example.org", sender.encode(), 1)


# -- damage ------------------------------------------------------------------------------------------------


def b64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def cms_of(msg: bytes) -> bytes:
    return base64.b64decode(b"".join(msg.partition(b"\r\n\r\n")[2].split()), validate=True)


def with_cms(msg: bytes, der: bytes) -> bytes:
    return msg.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + b64_lines(der)


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def signature_parts(signed: bytes) -> tuple[bytes, bytes, bytes]:
    found = re.search(rb'boundary="([^"]+)"', signed)
    assert found
    end = signed.rindex(b"\r\n--" + found.group(1) + b"--")
    start = signed.rindex(b"\r\n\r\n", 0, end) + 4
    return signed[:start], signed[start:end], signed[end:]


def cut_base64(text: bytes, aligned: bool) -> bytes:
    """Cut base64 text (in lines) in the middle: on a 4-character group, or 2 characters past one."""
    chars = [i for i, ch in enumerate(text) if ch not in b" \t\r\n"]
    keep = len(chars) // 2 - (len(chars) // 2) % 4 + (0 if aligned else 2)
    return text[: chars[keep - 1] + 1]


def gcm_tampered(msg: bytes, part: str) -> bytes:
    der = cms_of(msg)
    env = cms.ContentInfo.load(der)["content"]
    data = env["mac"].native if part == "tag" else env["auth_encrypted_content_info"]["encrypted_content"].native
    return with_cms(msg, replace_once(der, data, flip(data, len(data) // 2)))


def _aes_cbc_decrypt(key: bytes, iv: bytes, block: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(block) + dec.finalize()


def _padding_valid(block: bytes) -> bool:
    unpadder = sym_padding.PKCS7(128).unpadder()
    try:
        unpadder.update(block)
        unpadder.finalize()
    except ValueError:
        return False
    return True


def cbc_tampered(msg: bytes, key: rsa.RSAPrivateKey, probe: bool) -> bytes:
    """Break the padding for sure: flip a bit of the last block (probe=False), or turn the last plaintext byte
    into 0 through the block before it (probe=True, how a padding-oracle attack starts)."""
    der = cms_of(msg)
    env = cms.ContentInfo.load(der)["content"]
    cek = key.decrypt(env["recipient_infos"][0].chosen["encrypted_key"].native, padding.PKCS1v15())
    ct = env["encrypted_content_info"]["encrypted_content"].native
    previous, last = ct[-32:-16], ct[-16:]
    if probe:
        changed = bytearray(previous)
        changed[-1] ^= _aes_cbc_decrypt(cek, previous, last)[-1]
        return with_cms(msg, replace_once(der, ct, ct[:-32] + bytes(changed) + last))
    for bit in range(128):
        candidate = bytearray(last)
        candidate[bit // 8] ^= 1 << (bit % 8)
        if not _padding_valid(_aes_cbc_decrypt(cek, previous, bytes(candidate))):
            return with_cms(msg, replace_once(der, ct, ct[:-16] + bytes(candidate)))
    raise AssertionError("no single-bit change of the last block breaks the padding")


# -- identities the test PKI does not make -----------------------------------------------------------------


def _cert(
    subject: x509.Name, issuer: x509.Name, serial: int, key: rsa.RSAPrivateKey, email: str | None
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if email is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(key, hashes.SHA256())


def self_signed_identity(email: str) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice (self-signed)")])
    return Identity(key, _cert(name, name, x509.random_serial_number(), key, email))


def impostor_identity(victim: User) -> Identity:
    """A different RSA key whose certificate carries the victim's issuer and serial: named by the message."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{victim.name} impostor")])
    return Identity(key, _cert(name, victim.cert.issuer, victim.cert.serial_number, key, None))


def identity(user: User) -> Identity:
    return Identity.load(user.key_path, user.cert_path, user.chain_path)


# -- fixture -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lib:
    pki: TestPKI
    dir: Path
    trust: TrustStore
    alice: Identity
    bob: Identity
    bob_user: User
    mallory: Identity
    impostor: Identity
    encrypt_only: Identity
    signed: bytes
    opaque: bytes
    gcm: bytes
    cbc: bytes
    self_signed: bytes
    from_mismatch: bytes
    expired: bytes
    no_email_eku: bytes

    def file(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def lib(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Lib:
    now = datetime.now(UTC)
    alice = identity(pki.user("alice"))
    bob_user = pki.user("bob")
    bob = Identity.load(bob_user.p12_path, password=PASSWORD.encode())
    expired_user = pki.user("expired-signer", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    client_only_user = pki.user("client-only", eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    impostor = impostor_identity(bob_user)
    return Lib(
        pki=pki,
        dir=tmp_path_factory.mktemp("library-errors"),
        trust=TrustStore.from_files([pki.anchors_path]),
        alice=alice,
        bob=bob,
        bob_user=bob_user,
        mallory=identity(pki.user("mallory")),
        impostor=impostor,
        encrypt_only=identity(pki.user("encrypt-only", key_usage={"keyEncipherment"})),
        signed=mailseal.sign(MESSAGE, alice),
        opaque=mailseal.sign(MESSAGE, alice, opaque=True),
        gcm=mailseal.encrypt(MESSAGE, [bob.certificate], cipher="aes256-gcm", key_transport="pkcs1v15"),
        cbc=cbc_that_fails_for(impostor, bob),
        self_signed=mailseal.sign(MESSAGE, self_signed_identity("alice@example.org")),
        from_mismatch=mailseal.sign(from_("mallory@example.org"), alice, allow_from_mismatch=True),
        expired=mailseal.sign(from_(expired_user.email), identity(expired_user)),
        no_email_eku=mailseal.sign(from_(client_only_user.email), identity(client_only_user)),
    )


def cbc_that_fails_for(wrong: Identity, recipient: Identity) -> bytes:
    """CBC has no integrity: about one wrong content key in 256 gives valid padding. The rejection is
    deterministic, so keep the first message on which the wrong key fails; the tests never depend on luck."""
    for _ in range(20):
        sealed = mailseal.encrypt(MESSAGE, [recipient.certificate], cipher="aes256-cbc", key_transport="pkcs1v15")
        try:
            mailseal.decrypt(sealed, wrong)
        except mailseal.DecryptionError:
            return sealed
    raise AssertionError("20 CBC messages in a row decrypted with the wrong key: the rejection is broken")


def assert_typed(exc: BaseException, cls: type[MailsealError], code: str) -> None:
    assert isinstance(exc, cls), f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    assert isinstance(exc, MailsealError)
    assert exc.code == ErrorCode(code), f"expected code {code}, got {exc.code}"
    assert isinstance(exc.message, str) and exc.message.strip(), "the error needs a human sentence"


# -- unreadable messages -----------------------------------------------------------------------------------

Api = Callable[[bytes, Lib], Any]
APIS: dict[str, Api] = {
    "verify": lambda m, lib: mailseal.verify(m, trust=lib.trust),
    "open": lambda m, lib: mailseal.open(m, [lib.bob], trust=lib.trust),
    "decrypt": lambda m, lib: mailseal.decrypt(m, lib.bob),
}


def _signature_cut(lib: Lib) -> bytes:
    before, sig, _closing = signature_parts(lib.signed)
    return before + cut_base64(sig, aligned=True)


def _signature_cut_closing_kept(lib: Lib) -> bytes:
    before, sig, closing = signature_parts(lib.signed)
    return before + cut_base64(sig, aligned=True) + closing


def _no_closing_boundary(lib: Lib) -> bytes:
    before, sig, _closing = signature_parts(lib.signed)
    return before + sig


def _encrypted_cut(aligned: bool) -> Callable[[Lib], bytes]:
    def make(lib: Lib) -> bytes:
        head, _, body = lib.gcm.partition(b"\r\n\r\n")
        return head + b"\r\n\r\n" + cut_base64(body, aligned)

    return make


MALFORMED: dict[str, tuple[Callable[[Lib], bytes], tuple[str, ...], type[MailsealError], str]] = {
    # name: (input, APIs, error class, code)
    "empty": (lambda _l: b"", ("verify", "open", "decrypt"), MalformedMIMEError, "malformed-mime"),
    "signature-cut": (_signature_cut, ("verify", "open"), MalformedMIMEError, "malformed-mime"),
    "signature-cut-closing-kept": (_signature_cut_closing_kept, ("verify", "open"), MalformedCMSError, "malformed-cms"),
    "no-closing-boundary": (_no_closing_boundary, ("verify", "open"), MalformedMIMEError, "malformed-mime"),
    "encrypted-cut": (_encrypted_cut(True), ("open", "decrypt"), MalformedCMSError, "malformed-cms"),
    "encrypted-cut-bad-base64": (_encrypted_cut(False), ("open", "decrypt"), MalformedMIMEError, "malformed-mime"),
    "garbage-der": (lambda _l: GARBAGE_DER, ("verify", "open", "decrypt"), MalformedCMSError, "malformed-cms"),
    "signed-data-garbage": (lambda _l: SIGNED_DATA_GARBAGE, ("verify", "open"), MalformedCMSError, "malformed-cms"),
    "garbage-in-pkcs7-mime": (
        lambda lb: with_cms(lb.gcm, GARBAGE_DER),
        ("decrypt",),
        MalformedCMSError,
        "malformed-cms",
    ),
    "not-mime": (lambda _l: NOT_MIME, ("verify", "decrypt"), MalformedMIMEError, "malformed-mime"),
    "signed-not-encrypted": (lambda lb: lb.signed, ("decrypt",), NotEncryptedError, "not-encrypted"),
}


@pytest.mark.parametrize(
    ("name", "api"),
    [pytest.param(name, api, id=f"{name}-{api}") for name, (_m, apis, _c, _k) in MALFORMED.items() for api in apis],
)
def test_unreadable_message_raises_typed_error(name: str, api: str, lib: Lib) -> None:
    make, _apis, cls, code = MALFORMED[name]
    with pytest.raises(MailsealError) as info:
        APIS[api](make(lib), lib)
    assert_typed(info.value, cls, code)


# -- Identity.load -----------------------------------------------------------------------------------------


def _encrypted_pem(lib: Lib) -> Path:
    key = lib.pki.user("alice").key
    return lib.file(
        "alice.encrypted.key.pem",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        ),
    )


IdentityLoad = Callable[[Lib], Identity]
IDENTITY_CASES: dict[str, tuple[IdentityLoad, type[MailsealError], str]] = {
    "certificate-as-key": (
        lambda lb: Identity.load(lb.pki.user("alice").cert_path, lb.pki.user("alice").cert_path),
        PrivateKeyError,
        "malformed-key",
    ),
    "der-certificate-as-key": (
        lambda lb: Identity.load(
            lb.file("alice.cert.der", lb.alice.certificate.public_bytes(serialization.Encoding.DER)),
            lb.pki.user("alice").cert_path,
        ),
        PrivateKeyError,
        "malformed-key",
    ),
    "garbage-key": (
        lambda lb: Identity.load(lb.file("garbage.der", GARBAGE_DER), lb.pki.user("alice").cert_path),
        PrivateKeyError,
        "malformed-key",
    ),
    "empty-key-file": (
        lambda lb: Identity.load(lb.file("empty", b""), lb.pki.user("alice").cert_path),
        PrivateKeyError,
        "malformed-key",
    ),
    "key-as-certificate": (
        lambda lb: Identity.load(lb.pki.user("alice").key_path, lb.pki.user("alice").key_path),
        CertificateError,
        "malformed-certificate",
    ),
    "p12-wrong-password": (
        lambda lb: Identity.load(lb.bob_user.p12_path, password=b"wrong"),
        WrongPasswordError,
        "wrong-password",
    ),
    "p12-missing-password": (lambda lb: Identity.load(lb.bob_user.p12_path), PasswordNeededError, "password-needed"),
    "legacy-p12-wrong-password": (
        lambda lb: Identity.load(lb.bob_user.legacy_p12_path, password=b"wrong"),
        WrongPasswordError,
        "wrong-password",
    ),
    "encrypted-pem-wrong-password": (
        lambda lb: Identity.load(_encrypted_pem(lb), lb.pki.user("alice").cert_path, password=b"wrong"),
        WrongPasswordError,
        "wrong-password",
    ),
    "encrypted-pem-missing-password": (
        lambda lb: Identity.load(_encrypted_pem(lb), lb.pki.user("alice").cert_path),
        PasswordNeededError,
        "password-needed",
    ),
    "inconsistent-rsa-key": (
        lambda lb: Identity.load(lb.file("bad-crt.pem", _inconsistent_rsa_pem(lb)), lb.pki.user("alice").cert_path),
        PrivateKeyError,
        "malformed-key",
    ),
    "key-certificate-mismatch": (
        lambda lb: Identity.load(lb.pki.user("alice").key_path, lb.bob_user.cert_path),
        KeyCertificateMismatchError,
        "key-certificate-mismatch",
    ),
}


def _inconsistent_rsa_pem(lb: Lib) -> bytes:
    """alice's key with a CRT exponent that does not belong to it (keys are loaded without OpenSSL's slow check)."""
    key = lb.alice.private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    n = key.private_numbers()
    bad = rsa.RSAPrivateNumbers(n.p, n.q, n.d, n.dmp1 ^ 2, n.dmq1, n.iqmp, n.public_numbers)
    return bad.private_key(unsafe_skip_rsa_key_validation=True).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in IDENTITY_CASES])
def test_identity_load_raises_typed_error(name: str, lib: Lib) -> None:
    load, cls, code = IDENTITY_CASES[name]
    with pytest.raises(MailsealError) as info:
        load(lib)
    assert_typed(info.value, cls, code)


def test_identity_constructor_refuses_a_foreign_certificate(lib: Lib) -> None:
    with pytest.raises(MailsealError) as info:
        Identity(lib.alice.private_key, lib.bob.certificate)
    assert_typed(info.value, KeyCertificateMismatchError, "key-certificate-mismatch")


def test_identity_load_missing_file(lib: Lib) -> None:
    """A missing file is an OSError (the CLI maps it to error[io]) or a MailsealError with code io."""
    with pytest.raises((OSError, MailsealError)) as info:
        Identity.load(lib.dir / "no-such-key.pem", lib.dir / "no-such-cert.pem")
    if isinstance(info.value, MailsealError):
        assert info.value.code == ErrorCode.IO


# -- wrong keys and the decryption oracle ------------------------------------------------------------------


@pytest.mark.parametrize("api", ["decrypt", "open"])
def test_key_not_among_the_recipients(api: str, lib: Lib) -> None:
    with pytest.raises(MailsealError) as info:
        if api == "decrypt":
            mailseal.decrypt(lib.gcm, lib.mallory)
        else:
            mailseal.open(lib.gcm, [lib.mallory])
    assert_typed(info.value, NoMatchingRecipientError, "no-matching-recipient")


def test_open_without_any_key(lib: Lib) -> None:
    with pytest.raises(MailsealError) as info:
        mailseal.open(lib.gcm)
    assert_typed(info.value, NoMatchingRecipientError, "no-matching-recipient")


def test_open_with_a_stranger_and_a_failing_key(lib: Lib) -> None:
    """One named key failed, another was not named: the failure is reported, not hidden behind 'no recipient'."""
    with pytest.raises(MailsealError) as info:
        mailseal.open(lib.gcm, [lib.mallory, lib.impostor])
    assert_typed(info.value, DecryptionError, "decryption-failed")


def _rsa(ident: Identity) -> rsa.RSAPrivateKey:
    assert isinstance(ident.private_key, rsa.RSAPrivateKey)
    return ident.private_key


ORACLE: dict[str, tuple[Callable[[Lib], bytes], bool]] = {
    # name: (message, use the impostor's key instead of bob's)
    "gcm-wrong-key": (lambda lb: lb.gcm, True),
    "gcm-tampered-ciphertext": (lambda lb: gcm_tampered(lb.gcm, "ciphertext"), False),
    "gcm-tampered-tag": (lambda lb: gcm_tampered(lb.gcm, "tag"), False),
    "cbc-wrong-key": (lambda lb: lb.cbc, True),
    "cbc-tampered-last-block": (lambda lb: cbc_tampered(lb.cbc, _rsa(lb.bob), probe=False), False),
    "cbc-padding-probe": (lambda lb: cbc_tampered(lb.cbc, _rsa(lb.bob), probe=True), False),
}


def _chain(exc: BaseException) -> list[str]:
    """The exception and everything chained to it, by type: what a log or a traceback would show."""
    out: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(out) < 10:
        out.append(type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return out


@pytest.mark.parametrize("api", ["decrypt", "open"])
def test_no_decryption_oracle(api: str, lib: Lib) -> None:
    """Wrong key, modified ciphertext, tag or CBC padding: the same DecryptionError, the same text, the same chain.

    cbc-wrong-key: CBC has no integrity; a wrong key gives a random content key whose plaintext padding is valid
    with probability about 1/256, and then no error can be raised (inherent to CBC, which is why GCM is the default).
    """
    seen: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for name, (make, wrong_key) in ORACLE.items():
        if name == "cbc-wrong-key" and api == "open":
            continue  # the 1/256 chance above: taken once (decrypt), not twice
        key = lib.impostor if wrong_key else lib.bob
        with pytest.raises(MailsealError) as info:
            if api == "decrypt":
                mailseal.decrypt(make(lib), key)
            else:
                mailseal.open(make(lib), [key], trust=lib.trust)
        assert_typed(info.value, DecryptionError, "decryption-failed")
        seen[name] = (type(info.value).__name__, str(info.value), tuple(_chain(info.value)))
    assert len(set(seen.values())) == 1, f"the failures can be told apart (an oracle): {seen}"


def test_undamaged_messages_decrypt(lib: Lib) -> None:
    for msg in (lib.gcm, lib.cbc):
        assert b"the figures for the third quarter" in mailseal.decrypt(msg, lib.bob)


# -- signatures that are not valid: a report, not an exception ---------------------------------------------


def _tampered(lib: Lib) -> bytes:
    return replace_once(lib.signed, b"Hello Bob", b"Jello Bob")


def _tampered_opaque(lib: Lib) -> bytes:
    return with_cms(lib.opaque, replace_once(cms_of(lib.opaque), b"Hello Bob", b"Jello Bob"))


NOT_VALID: dict[str, tuple[Callable[[Lib], bytes], bool, str]] = {
    # name: (message, with the test root as trust anchor, status)
    "tampered-body": (_tampered, True, "invalid-signature"),
    "tampered-opaque-body": (_tampered_opaque, True, "invalid-signature"),
    "untrusted-no-anchor": (lambda lb: lb.signed, False, "untrusted"),
    "self-signed-signer": (lambda lb: lb.self_signed, True, "untrusted"),
    "from-mismatch": (lambda lb: lb.from_mismatch, True, "address-mismatch"),
    "expired-signer": (lambda lb: lb.expired, True, "expired"),
    "signer-without-email-eku": (lambda lb: lb.no_email_eku, True, "usage-not-allowed"),
    "control-valid": (lambda lb: lb.signed, True, "valid"),
}


@pytest.mark.parametrize(
    ("name", "api"), [pytest.param(n, a, id=f"{n}-{a}") for n in NOT_VALID for a in ("verify", "open")]
)
def test_signature_status(name: str, api: str, lib: Lib) -> None:
    make, trusted, status = NOT_VALID[name]
    trust = lib.trust if trusted else TrustStore()
    report = (
        mailseal.verify(make(lib), trust=trust) if api == "verify" else mailseal.open(make(lib), trust=trust).report
    )
    assert report.signed
    assert report.status == status
    assert [s.status for s in report.signers] == [status]
    assert report.valid is (status == "valid")


# -- unsuitable certificates -------------------------------------------------------------------------------

RECIPIENTS: dict[str, Callable[[TestPKI], list[x509.Certificate]]] = {
    "rsa-signature-only": lambda p: [p.user("sign-only", key_usage={"digitalSignature"}).cert],
    "ec-signature-only": lambda p: [p.user("ec-sign-only", "ec-p256", key_usage={"digitalSignature"}).cert],
    "ed25519": lambda p: [p.user("ed-signer", "ed25519").cert],
    "second-of-two": lambda p: [p.user("bob").cert, p.user("sign-only", key_usage={"digitalSignature"}).cert],
}


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in RECIPIENTS])
def test_encrypt_to_unsuitable_recipient(name: str, lib: Lib) -> None:
    with pytest.raises(MailsealError) as info:
        mailseal.encrypt(MESSAGE, RECIPIENTS[name](lib.pki))
    assert_typed(info.value, RecipientError, "recipient-unsuitable")


def test_encrypt_with_unsuitable_sender(lib: Lib) -> None:
    sign_only = lib.pki.user("sign-only", key_usage={"digitalSignature"}).cert
    with pytest.raises(MailsealError) as info:
        mailseal.encrypt(MESSAGE, [lib.bob.certificate], sender=sign_only)
    assert_typed(info.value, RecipientError, "recipient-unsuitable")


def test_sign_with_unsuitable_signer(lib: Lib) -> None:
    with pytest.raises(MailsealError) as info:
        mailseal.sign(MESSAGE, lib.encrypt_only)
    assert_typed(info.value, SignerError, "signer-unsuitable")


@pytest.mark.parametrize("api", ["sign", "encrypt"])
def test_sign_or_encrypt_unreadable_message(api: str, lib: Lib) -> None:
    for bad in (b"", NOT_MIME):
        with pytest.raises(MailsealError) as info:
            if api == "sign":
                mailseal.sign(bad, lib.alice)
            else:
                mailseal.encrypt(bad, [lib.bob.certificate])
        assert_typed(info.value, MalformedMIMEError, "malformed-mime")

"""Protected-header messages from mailseal read by OpenSSL 3 ``openssl cms``: the signatures verify over the
protected entity and the encrypted form decrypts to the hp="cipher" entity."""

from __future__ import annotations

from pathlib import Path

import pytest

import mailseal
from tests.mime.protection_helpers import MESSAGE, PROTECTED, parse, signed_part
from tests.support.messages import ident
from tests.support.peers import openssl_cms, require_peer
from tests.support.testpki import TestPKI

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _openssl() -> None:
    require_peer("openssl")


@pytest.mark.parametrize("opaque", [False, True], ids=["openssl-rsa2048-sha256-detached", "openssl-rsa2048-sha256-opaque"])
def test_openssl_verifies_protected_signature(pki: TestPKI, tmp_path: Path, opaque: bool) -> None:
    alice = pki.user("alice")
    signed = mailseal.sign(MESSAGE, ident(alice), opaque=opaque, protect_headers=True)
    (tmp_path / "signed.eml").write_bytes(signed)
    openssl_cms(
        "-verify", "-CAfile", pki.root_path, "-purpose", "smimesign", "-verify_email", alice.email,
        "-in", tmp_path / "signed.eml", "-out", tmp_path / "content",
    )  # fmt: skip
    content = (tmp_path / "content").read_bytes()
    inner = parse(content)
    assert inner.get_param("hp") == "clear" and inner.get("Subject") == PROTECTED["Subject"]
    if not opaque:
        assert content == signed_part(signed)


def test_openssl_verifies_signature_without_capabilities(pki: TestPKI, tmp_path: Path) -> None:
    alice = pki.user("alice")
    (tmp_path / "signed.eml").write_bytes(mailseal.sign(MESSAGE, ident(alice), include_capabilities=False))
    openssl_cms("-verify", "-CAfile", pki.root_path, "-purpose", "smimesign", "-in", tmp_path / "signed.eml")
    printed = openssl_cms("-cmsout", "-print", "-in", tmp_path / "signed.eml").decode()
    assert "(1.2.840.113549.1.9.5)" in printed, "signingTime is still there"
    assert "(1.2.840.113549.1.9.15)" not in printed, "no SMIMECapabilities attribute (RFC 8551 §2.5.2)"


def test_openssl_decrypts_protected_encryption_rsa_oaep_aes256gcm(pki: TestPKI, tmp_path: Path) -> None:
    bob = pki.user("bob")
    encrypted = mailseal.encrypt(MESSAGE, [bob.cert], protect_headers=True)
    (tmp_path / "enc.eml").write_bytes(encrypted)
    plain = openssl_cms("-decrypt", "-recip", bob.cert_path, "-inkey", bob.key_path, "-in", tmp_path / "enc.eml")
    inner = parse(plain)
    assert inner.get_param("hp") == "cipher"
    assert inner.get("Subject") == PROTECTED["Subject"]
    assert "Subject: [...]" in inner.get_all("HP-Outer")
    assert inner.get("Bcc") is None


def test_openssl_decrypts_and_verifies_signed_then_encrypted(pki: TestPKI, tmp_path: Path) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    signed = mailseal.sign(MESSAGE, ident(alice), protect_headers=True)
    (tmp_path / "enc.eml").write_bytes(mailseal.encrypt(signed, [bob.cert], protect_headers=True))
    openssl_cms(
        "-decrypt", "-recip", bob.cert_path, "-inkey", bob.key_path, "-in", tmp_path / "enc.eml",
        "-out", tmp_path / "signed.eml",
    )  # fmt: skip
    openssl_cms(
        "-verify", "-CAfile", pki.root_path, "-purpose", "smimesign", "-in", tmp_path / "signed.eml",
        "-out", tmp_path / "content",
    )  # fmt: skip
    assert parse((tmp_path / "content").read_bytes()).get("Subject") == PROTECTED["Subject"]


def test_openssl_decrypts_then_verifies_signed_to_be_encrypted(pki: TestPKI, tmp_path: Path) -> None:
    """Signed with hp="cipher" (to_be_encrypted), then encrypted: OpenSSL decrypts the outer layer and verifies
    the inner one, whose content carries the real Subject."""
    alice, bob = pki.user("alice"), pki.user("bob")
    signed = mailseal.sign(MESSAGE, ident(alice), protect_headers=True, to_be_encrypted=True)
    (tmp_path / "sealed.eml").write_bytes(mailseal.encrypt(signed, [bob.cert], protect_headers=True))
    openssl_cms("-decrypt", "-in", tmp_path / "sealed.eml", "-recip", bob.cert_path, "-inkey", bob.key_path,
                "-out", tmp_path / "signed.eml")
    openssl_cms(
        "-verify", "-CAfile", pki.root_path, "-purpose", "smimesign", "-verify_email", alice.email,
        "-in", tmp_path / "signed.eml", "-out", tmp_path / "content",
    )  # fmt: skip
    inner = parse((tmp_path / "content").read_bytes())
    assert inner.get_param("hp") == "cipher" and inner.get("Subject") == PROTECTED["Subject"]
    assert "Subject: [...]" in (inner.get_all("HP-Outer") or [])

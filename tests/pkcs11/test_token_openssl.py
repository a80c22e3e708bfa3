"""Token keys against OpenSSL: mailseal signs on the token and ``openssl cms -verify`` checks it; OpenSSL encrypts
to the token's certificates and mailseal decrypts on the token."""

from __future__ import annotations

from pathlib import Path

import pytest

import mailseal
from tests.pkcs11.softhsm import HSM
from tests.support.peers import openssl_cms

ENTITY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nOn the token.\r\n"


def _message(sender: str) -> bytes:
    return f"From: {sender}\r\nTo: bob@example.org\r\nSubject: token\r\n".encode() + ENTITY


@pytest.mark.parametrize(("which", "pss", "opaque"),
                         [("rsa", False, False), ("rsa", True, False), ("ec", False, False), ("rsa", False, True)],
                         ids=["rsa-pkcs1-sha256-detached", "rsa-pss-sha256-detached", "ecdsa-p256-sha256-detached",
                              "rsa-pkcs1-sha256-opaque"])
def test_token_signs_openssl_verifies(hsm: HSM, which: str, pss: bool, opaque: bool, tmp_path: Path) -> None:
    ident = hsm.identity(which)
    signed = mailseal.sign(_message(f"hsm-{which}@example.org"), ident, pss=pss, opaque=opaque)
    (tmp_path / "signed.eml").write_bytes(signed)
    out = openssl_cms("-verify", "-CAfile", hsm.pki.root_path, "-purpose", "smimesign", "-in",
                      tmp_path / "signed.eml")
    assert b"On the token." in out


@pytest.mark.parametrize(
    ("which", "keyopts", "cipher"),
    [
        pytest.param("rsa", [], "aes-256-cbc", id="rsa-pkcs1-aes256-cbc"),
        pytest.param("rsa", ["rsa_padding_mode:oaep"], "aes-256-gcm", id="rsa-oaep-sha1-aes256-gcm"),
        pytest.param("rsa", ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256"], "aes-128-cbc",
                     id="rsa-oaep-sha256-aes128-cbc"),
        pytest.param("ec", [], "aes-256-gcm", id="ecdh-p256-sha1kdf-aes256-gcm"),
        pytest.param("ec", ["ecdh_kdf_md:sha256"], "aes-128-cbc", id="ecdh-p256-sha256kdf-aes128-cbc"),
    ],
)
def test_openssl_encrypts_token_decrypts(hsm: HSM, which: str, keyopts: list[str], cipher: str,
                                         tmp_path: Path) -> None:
    (tmp_path / "part.txt").write_bytes(ENTITY)
    cert = hsm.rsa_cert_path if which == "rsa" else hsm.ec_cert_path
    args: list[str | Path] = ["-encrypt", "-binary", "-in", tmp_path / "part.txt", f"-{cipher}", "-recip", cert]
    for opt in keyopts:
        args += ["-keyopt", opt]
    enc = openssl_cms(*args, "-crlfeol")
    plain = mailseal.decrypt(enc, hsm.identity(which))
    assert b"On the token." in plain


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_mailseal_encrypts_openssl_and_token_agree(hsm: HSM, which: str, tmp_path: Path) -> None:
    """The same message decrypts with the token; OpenSSL cannot, without the key (a control for the test)."""
    ident = hsm.identity(which)
    enc = mailseal.encrypt(_message("alice@example.org"), [ident.certificate])
    assert b"On the token." in mailseal.decrypt(enc, ident)
    (tmp_path / "enc.eml").write_bytes(enc)
    printed = openssl_cms("-cmsout", "-print", "-in", tmp_path / "enc.eml").decode()
    assert ("ktri" if which == "rsa" else "kari") in printed.replace("d.ktri", "ktri").replace("d.kari", "kari")

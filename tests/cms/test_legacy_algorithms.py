"""Legacy algorithms by explicit choice (issue 17 point 5): the names, RC2 and 3DES messages made by OpenSSL
(refused / weak by default, accepted with allow_legacy), an RSA-1024 signer (weak by default, valid with
rsa1024), SHA-1 message digests, and the CLI option and setting. DSA and parameter inheritance: tests/pki/test_pkits.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import mailseal
from mailseal.cms.algorithms import LEGACY_ALGORITHMS, legacy_algorithms
from mailseal.cms.identity import Identity
from mailseal.errors import ErrorCode, MailsealError, UnsupportedAlgorithmError
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext
from tests.conftest import RunCli
from tests.support.testpki import TestPKI, User

MESSAGE = b"Content-Type: text/plain\r\n\r\nfrom the archive\r\n"


def _openssl(*args: str, data: bytes = b"") -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _encrypted(user: User, cipher: str) -> bytes:
    return _openssl("cms", "-encrypt", f"-{cipher}", "-provider", "legacy", "-provider", "default",
                    str(user.cert_path), data=MESSAGE)


def _identity(user: User) -> Identity:
    return Identity(user.key, user.cert, tuple(user.chain))  # type: ignore[arg-type]


def test_legacy_names_parse_and_unknown_names_are_refused() -> None:
    assert legacy_algorithms("dsa, SHA1") == {"dsa", "sha1"} and legacy_algorithms("") == frozenset()
    assert legacy_algorithms(["rc2", "3des"]) == {"rc2", "3des"}
    assert set(LEGACY_ALGORITHMS) == {"dsa", "sha1", "rsa1024", "3des", "rc2"}
    with pytest.raises(UnsupportedAlgorithmError, match="unknown legacy algorithm md5: choose from dsa, sha1"):
        legacy_algorithms("dsa,md5")
    with pytest.raises(ValueError, match="unknown legacy algorithm"):
        ValidationContext(allow_legacy=frozenset({"des"}))


@pytest.mark.interop
def test_openssl_rc2_is_refused_by_default_and_decrypted_by_choice(pki: TestPKI) -> None:
    user = pki.user("legacy-rc2")
    rc2 = _encrypted(user, "rc2")
    with pytest.raises(MailsealError) as refused:
        mailseal.decrypt(rc2, _identity(user))
    assert refused.value.code is ErrorCode.UNSUPPORTED_ALGORITHM and "--allow-legacy rc2" in refused.value.message
    assert b"from the archive" in mailseal.decrypt(rc2, _identity(user), allow_legacy=frozenset({"rc2"}))
    # RC2 with a 40-bit effective key: pyca has only 128 bits, so it is refused by name even when allowed
    with pytest.raises(MailsealError, match="40-bit effective key is not supported"):
        mailseal.decrypt(_encrypted(user, "rc2-40"), _identity(user), allow_legacy=frozenset({"rc2"}))


@pytest.mark.interop
def test_openssl_3des_is_weak_by_default_and_accepted_by_choice(pki: TestPKI) -> None:
    user = pki.user("legacy-3des")
    des3 = _encrypted(user, "des3")
    weak = mailseal.open(des3, identities=[_identity(user)]).report.to_dict()["warnings"]
    assert "weak cipher: the message was encrypted with tripledes_3key" in weak
    chosen = mailseal.open(des3, identities=[_identity(user)],
                           context=ValidationContext(allow_legacy=frozenset({"3des"}))).report.to_dict()["warnings"]
    assert not any(w.startswith("weak cipher") for w in chosen)
    assert any("legacy cipher accepted by explicit choice (allow_legacy 3des)" in w for w in chosen)


@pytest.mark.interop
@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_rsa1024_and_sha1_signers_are_weak_by_default_and_valid_by_choice(pki: TestPKI, tmp_path: Path,
                                                                          digest: str) -> None:
    user = pki.user("legacy-rsa1024", "rsa1024")
    signed = _openssl("cms", "-sign", "-md", digest, "-signer", str(user.cert_path), "-inkey", str(user.key_path),
                      "-certfile", str(user.chain_path), data=MESSAGE)
    signed = b"From: legacy-rsa1024@example.org\r\n" + signed
    trust = TrustStore(anchors=(pki.root_cert,))
    [weak] = mailseal.verify(signed, ValidationContext(trust=trust)).signers
    assert weak.status == "weak-algorithm" and any("1024 bits" in r for r in weak.reasons)
    needed = {"rsa1024", "sha1"} if digest == "sha1" else {"rsa1024"}
    if digest == "sha1":  # rsa1024 alone leaves the SHA-1 digest weak
        [half] = mailseal.verify(signed, ValidationContext(trust=trust, allow_legacy=frozenset({"rsa1024"}))).signers
        assert half.status == "weak-algorithm" and any("SHA1" in r for r in half.reasons)
    [chosen] = mailseal.verify(signed, ValidationContext(trust=trust, allow_legacy=frozenset(needed))).signers
    assert chosen.status == "valid"
    assert any("accepted by explicit choice" in r for r in chosen.reasons)


@pytest.mark.interop
def test_cli_allow_legacy_option_and_setting(pki: TestPKI, tmp_path: Path, run_cli: RunCli,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    user = pki.user("legacy-rc2-cli")
    message = tmp_path / "rc2.eml"
    message.write_bytes(_encrypted(user, "rc2"))
    key = ["decrypt", "--key", str(user.key_path), "--cert", str(user.cert_path), "-i", str(message)]
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAILSEAL_CONFIG", raising=False)
    refused = run_cli(*key)
    assert refused.returncode == 2 and b"error[unsupported-algorithm]" in refused.stderr
    assert b"from the archive" in run_cli(*key, "--allow-legacy", "rc2").stdout
    assert run_cli(*key, "--allow-legacy", "rc4").returncode == 2
    settings = tmp_path / "mailseal.toml"
    settings.write_text('[verification]\nallow_legacy = ["rc2"]\n')
    monkeypatch.setenv("MAILSEAL_CONFIG", str(settings))
    by_setting = run_cli(*key)
    assert by_setting.returncode == 0 and b"from the archive" in by_setting.stdout, by_setting.stderr

"""``decrypt`` and ``open`` without ``--key`` when the key store's identity keeps its key on a PKCS#11 token (SoftHSM2):
the token decrypts, and no store passphrase is needed (none is set: an unlock would fail)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mailseal
from tests.pkcs11.softhsm import HSM, RSA_ID
from tests.support.peers import openssl_cms
from tests.support.testpki import TestPKI

REPO = Path(__file__).resolve().parents[2]
MESSAGE = (b"From: sender@example.net\r\nTo: hsm-rsa@example.org\r\nSubject: token\r\n"
           b"Content-Type: text/plain\r\n\r\nDecrypted on the token.\r\n")
BODY = b"Decrypted on the token."
_STORE_ENV = ("MAILSEAL_HOME", "MAILSEAL_DB_URL", "MAILSEAL_STORE_PASSPHRASE", "MAILSEAL_STORE_KEYFILE")


def run(home: Path, *args: str | Path, passphrase: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI with $SOFTHSM2_CONF and the PIN of the session fixture, and no store passphrase unless given."""
    env = {k: v for k, v in os.environ.items() if k not in _STORE_ENV}
    env.update(PYTHONPATH=str(REPO / "src"), MAILSEAL_HOME=str(home))
    if passphrase is not None:
        env["MAILSEAL_STORE_PASSPHRASE"] = passphrase
    return subprocess.run([sys.executable, "-m", "mailseal.cli.main", *map(str, args)], capture_output=True,
                          env=env, timeout=120, check=False, start_new_session=True)


def ok(proc: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


@pytest.fixture(scope="module")
def home(hsm: HSM, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the token's RSA and EC identities, and alice's key sealed under the store passphrase."""
    home = tmp_path_factory.mktemp("token-decrypt") / "home"
    ok(run(home, "keys", "import-token", "--module", hsm.module, "--token", "mailseal-test", "--key-id",
           RSA_ID.hex(), "--chain", hsm.chain_path))
    ok(run(home, "keys", "import-token", "--module", hsm.module, "--token", "mailseal-test", "--key-label", "ec",
           "--cert", hsm.ec_cert_path, "--chain", hsm.chain_path))
    ok(run(home, "keys", "import", pki.user("alice").p12_path, "--pass", "pass:test", passphrase="s3cret"))
    return home


@pytest.mark.parametrize("producer", ["openssl", "mailseal-ski"])
@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_decrypt_and_open_without_key(hsm: HSM, home: Path, tmp_path: Path, which: str, producer: str) -> None:
    cert, cert_path = (hsm.rsa_cert, hsm.rsa_cert_path) if which == "rsa" else (hsm.ec_cert, hsm.ec_cert_path)
    if producer == "openssl":
        (tmp_path / "part.eml").write_bytes(MESSAGE)
        sealed = openssl_cms("-encrypt", "-in", tmp_path / "part.eml", "-aes-256-cbc", "-recip", cert_path,
                             "-crlfeol")
    else:
        sealed = mailseal.encrypt(MESSAGE, [cert], recipient_id="ski")
    enc = tmp_path / "enc.eml"
    enc.write_bytes(sealed)
    proc = ok(run(home, "decrypt", "-i", enc))
    assert BODY in proc.stdout
    assert f"(hsm-{which}@example.org, " in proc.stderr.decode() and "key on a PKCS#11 token" in proc.stderr.decode()
    report = json.loads(ok(run(home, "open", "--json", "-i", enc)).stdout)
    [used] = report["decrypted_with"]
    assert used["address"] == f"hsm-{which}@example.org"
    assert used["key_location"].startswith("pkcs11:token=mailseal-test;")
    assert report["layers"][0]["key_algorithm"].startswith("rsaes" if which == "rsa" else "dh_single_pass_stddh")


def test_only_the_matching_key_is_opened(hsm: HSM, home: Path, pki: TestPKI, tmp_path: Path) -> None:
    """A message for alice (sealed key) and the token's RSA identity: --as the token identity needs no passphrase;
    alice's sealed key does (and there is none to be had here)."""
    alice = pki.user("alice")
    enc = tmp_path / "enc.eml"
    enc.write_bytes(mailseal.encrypt(MESSAGE, [alice.cert, hsm.rsa_cert]))
    proc = ok(run(home, "decrypt", "--as", "hsm-rsa@example.org", "-i", enc))
    assert BODY in proc.stdout and "(hsm-rsa@example.org, " in proc.stderr.decode()
    sealed = run(home, "decrypt", "--as", "alice@example.org", "-i", enc)
    assert sealed.returncode == 2 and sealed.stdout == b""
    assert sealed.stderr.startswith(b"mailseal: error[usage]: no key store passphrase")
    with_passphrase = ok(run(home, "decrypt", "--as", "alice@example.org", "-i", enc, passphrase="s3cret"))
    assert BODY in with_passphrase.stdout and "key in the key store" in with_passphrase.stderr.decode()

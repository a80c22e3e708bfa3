"""`mailseal keys import-token`, and sign/decrypt/open with token keys, as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_mailseal
from tests.pkcs11.softhsm import HSM, PIN_TOKEN, RSA_ID
from tests.support.peers import openssl_cms

ENTITY = b"Content-Type: text/plain\r\n\r\nVia the CLI.\r\n"


def _env(home: Path, **extra: str) -> dict[str, str]:
    # $SOFTHSM2_CONF and $MAILSEAL_PKCS11_PIN come from the session fixture through os.environ.
    return {"MAILSEAL_HOME": str(home), "MAILSEAL_STORE_PASSPHRASE": "unused", **extra}


def _ok(proc: subprocess.CompletedProcess[bytes]) -> bytes:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_import_token_list_show_and_sign_from_store(hsm: HSM, tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = _ok(run_mailseal("keys", "import-token", "--module", hsm.module, "--token", "mailseal-test",
                           "--key-id", RSA_ID.hex(), "--chain", hsm.chain_path, "--json", env=_env(home)))
    [imported] = json.loads(out)["imported"]
    assert imported["address"] == "hsm-rsa@example.org"
    assert imported["key_location"].startswith("pkcs11:token=mailseal-test;id=%01%a1")
    _ok(run_mailseal("keys", "import-token", "--token", "mailseal-test", "--key-label", "ec", "--cert",
                     hsm.ec_cert_path, "--chain", hsm.chain_path, env=_env(home, MAILSEAL_PKCS11_MODULE=hsm.module)))
    listed = _ok(run_mailseal("keys", "list", env=_env(home))).decode()
    assert " pkcs11:token=mailseal-test;id=%01%a1" in listed  # in the KEY column of the table
    assert " pkcs11:token=mailseal-test;id=%02%b2;object=ec" in listed
    shown = _ok(run_mailseal("keys", "show", "hsm-ec@example.org", env=_env(home))).decode()
    assert "key_location: pkcs11:" in shown

    msg = b"From: hsm-rsa@example.org\r\nTo: bob@example.org\r\nSubject: cli\r\n" + ENTITY
    # The EC identity was filed without a module path: this machine names it in the environment.
    for sender, extra in (("hsm-rsa@example.org", {}), ("hsm-ec@example.org", {"MAILSEAL_PKCS11_MODULE": hsm.module})):
        signed = _ok(run_mailseal("sign", "--from", sender, input=msg.replace(b"hsm-rsa@example.org",
                                                                                sender.encode()),
                                  env=_env(home, **extra)))
        (tmp_path / "signed.eml").write_bytes(signed)
        assert b"Via the CLI." in openssl_cms("-verify", "-CAfile", hsm.pki.root_path, "-purpose", "smimesign",
                                               "-in", tmp_path / "signed.eml")


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_decrypt_and_open_with_a_token_uri(hsm: HSM, which: str, tmp_path: Path) -> None:
    cert = hsm.rsa_cert_path if which == "rsa" else hsm.ec_cert_path
    (tmp_path / "part.txt").write_bytes(ENTITY)
    enc = openssl_cms("-encrypt", "-in", tmp_path / "part.txt", "-aes-256-cbc", "-recip", cert, "-crlfeol")
    uri = hsm.uri(key_id=RSA_ID) if which == "rsa" else hsm.uri(label="ec")
    home = tmp_path / "home"
    plain = _ok(run_mailseal("decrypt", "--key", uri, "--cert", cert, input=enc, env=_env(home)))
    assert b"Via the CLI." in plain
    opened = _ok(run_mailseal("open", "--key", uri, "--cert", cert, "--json", input=enc, env=_env(home)))
    assert opened


def test_wrong_pin_prints_error_token(hsm: HSM, tmp_path: Path) -> None:
    proc = run_mailseal("keys", "import-token", "--module", hsm.module, "--token", PIN_TOKEN, "--key-label", "x",
                        env=_env(tmp_path / "home", MAILSEAL_PKCS11_PIN="0000-wrong"))
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert err.startswith("mailseal: error[token]: the PIN for the PKCS#11 token 'mailseal-pin' is wrong")
    assert "Traceback" not in err
    assert "0000-wrong" not in err


def test_missing_pin_and_bad_options(hsm: HSM, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILSEAL_PKCS11_PIN"}
    proc = subprocess.run(
        [*_cli(), "keys", "import-token", "--module", hsm.module, "--token", PIN_TOKEN, "--key-label", "x"],
        capture_output=True, env={**env, **_env(tmp_path / "home"), "PYTHONPATH": "src"}, check=False,
        cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert proc.returncode == 2
    assert b"error[token]" in proc.stderr and b"MAILSEAL_PKCS11_PIN" in proc.stderr
    both = run_mailseal("keys", "import-token", "--token", "t", "--key-id", "01", "--key-label", "k",
                        env=_env(tmp_path / "home"))
    assert both.returncode == 2 and b"error[usage]" in both.stderr


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "mailseal.cli.main"]

"""Passwords as OpenSSL and gpgsm take them (issue 12, point 4).

A protected PKCS#12 file or encrypted PEM key given without ``--pass`` is asked for on the terminal, without
echo; with no terminal the command fails with ``password-needed`` ("needs a password (--pass)"), never with
"the password is wrong". The library takes ``str`` or ``bytes`` passwords.

The prompts are driven through a real pseudo-terminal (pexpect): the child's controlling terminal is the pty,
which is what ``/dev/tty`` opens.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest
from cryptography.hazmat.primitives import serialization

from mailseal import Identity
from mailseal.errors import ErrorCode, PasswordNeededError, WrongPasswordError
from mailseal.pki.authority import CertificateAuthority
from mailseal.pki.truststore import read_certificates
from tests.conftest import RunCli, cli_env
from tests.support.testpki import PASSWORD, User

PROMPT_TIMEOUT = 60


@pytest.fixture
def encrypted_pem(tmp_path: Path, alice: User) -> Path:
    path = tmp_path / "alice.enc.pem"
    path.write_bytes(alice.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pem secret")))
    return path


def spawn(*args: str | os.PathLike[str], cwd: Path, env: dict[str, str] | None = None) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "mailseal.cli.main", *map(str, args)], cwd=str(cwd),
                         env=cli_env(env), timeout=PROMPT_TIMEOUT)


def finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    rest = child.before.decode(errors="replace")
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus, rest


# -- on a terminal --------------------------------------------------------------------------------------------

def test_pkcs12_without_pass_prompts_without_echo(tmp_path: Path, alice: User, message: Path) -> None:
    out = tmp_path / "signed.eml"
    child = spawn("sign", "--key", alice.p12_path, "-i", message, "-o", out, cwd=tmp_path)
    child.expect(f"Enter pass phrase for {alice.p12_path}:")
    child.sendline(PASSWORD)
    status, rest = finish(child)
    assert status == 0, rest
    assert PASSWORD not in rest  # echo was off: the typed password never came back
    assert b"multipart/signed" in out.read_bytes()


def test_wrong_password_at_the_prompt_is_asked_again(tmp_path: Path, alice: User, message: Path) -> None:
    out = tmp_path / "signed.eml"
    child = spawn("sign", "--key", alice.p12_path, "-i", message, "-o", out, cwd=tmp_path)
    child.expect("Enter pass phrase for ")
    child.sendline("not it")
    child.expect("the PKCS#12 password is wrong; try again")
    child.expect("Enter pass phrase for ")
    child.sendline(PASSWORD)
    status, rest = finish(child)
    assert status == 0, rest
    assert out.exists()


def test_three_wrong_passwords_fail_as_wrong_password(tmp_path: Path, alice: User, message: Path) -> None:
    child = spawn("sign", "--key", alice.p12_path, "-i", message, cwd=tmp_path)
    for _ in range(3):
        child.expect("Enter pass phrase for ")
        child.sendline("not it")
    status, rest = finish(child)
    assert status == 2
    assert "mailseal: error[wrong-password]: the PKCS#12 password is wrong" in rest


def test_encrypted_pem_key_prompts(tmp_path: Path, alice: User, message: Path, encrypted_pem: Path) -> None:
    out = tmp_path / "signed.eml"
    child = spawn("sign", "--key", encrypted_pem, "--cert", alice.cert_path, "-i", message, "-o", out, cwd=tmp_path)
    child.expect(f"Enter pass phrase for {encrypted_pem}:")
    child.sendline("pem secret")
    status, rest = finish(child)
    assert status == 0, rest
    assert "pem secret" not in rest
    assert out.exists()


def test_message_on_stdin_and_password_on_the_terminal(tmp_path: Path, alice: User, message: Path) -> None:
    # The message comes through a pipe; the pass phrase is still asked on the terminal, never read from stdin.
    out = tmp_path / "signed.eml"
    shell = f"{sys.executable} -m mailseal.cli.main sign --key {alice.p12_path} -o {out} < {message}"
    child = pexpect.spawn("/bin/sh", ["-c", shell], cwd=str(tmp_path), env=cli_env(), timeout=PROMPT_TIMEOUT)
    child.expect("Enter pass phrase for ")
    child.sendline(PASSWORD)
    status, rest = finish(child)
    assert status == 0, rest
    assert b"hello" in out.read_bytes()


def test_trust_add_of_a_protected_pkcs12_prompts(tmp_path: Path, alice: User) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    child = spawn("trust", "add", "--allow-leaf", alice.p12_path, cwd=tmp_path, env=env)
    child.expect(f"Enter pass phrase for {alice.p12_path}:")
    child.sendline(PASSWORD)
    status, rest = finish(child)
    assert status == 0, rest
    assert "3 added" in rest


def test_keys_import_prompts(tmp_path: Path, alice: User) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "home"), "MAILSEAL_STORE_PASSPHRASE": "store secret"}
    child = spawn("keys", "import", alice.p12_path, cwd=tmp_path, env=env)
    child.expect(f"Enter pass phrase for {alice.p12_path}:")
    child.sendline(PASSWORD)
    status, rest = finish(child)
    assert status == 0, rest
    assert f"{alice.email} (dual)" in rest


def test_ca_init_asks_the_passphrase_twice(tmp_path: Path) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    child = spawn("ca", "init", "--name", "Prompted CA", "--key-type", "p256", cwd=tmp_path, env=env)
    child.expect("CA passphrase: ")
    child.sendline("ca secret")
    child.expect("Repeat the CA passphrase: ")
    child.sendline("ca secret")
    status, rest = finish(child)
    assert status == 0, rest
    assert "ca secret" not in rest
    CertificateAuthority.load(tmp_path / "home" / "ca", "ca secret")  # str passphrase, as typed


# -- without a terminal ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["pkcs12", "pem"])
def test_no_terminal_says_the_password_is_needed(run_cli: RunCli, tmp_path: Path, alice: User, message: Path,
                                                 encrypted_pem: Path, kind: str) -> None:
    key = ["--key", str(alice.p12_path)] if kind == "pkcs12" else ["--key", str(encrypted_pem), "--cert",
                                                                    str(alice.cert_path)]
    proc = run_cli("sign", *key, "-i", message)  # run_cli starts a session without a controlling terminal
    assert proc.returncode == 2
    shown = key[1]
    assert proc.stderr.decode() == f"mailseal: error[password-needed]: {shown} needs a password (--pass)\n"
    assert proc.stdout == b""


def test_no_terminal_trust_add_and_decrypt(run_cli: RunCli, tmp_path: Path, alice: User) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    added = run_cli("trust", "add", "--allow-leaf", alice.p12_path, env=env)
    assert added.stderr.decode() == f"mailseal: error[password-needed]: {alice.p12_path} needs a password (--pass)\n"
    opened = run_cli("open", "--key", alice.p12_path, input=b"From: a@b\r\n\r\nx\r\n")
    assert b"error[password-needed]" in opened.stderr


def test_wrong_pass_is_still_wrong_password(run_cli: RunCli, alice: User, message: Path) -> None:
    proc = run_cli("sign", "--key", alice.p12_path, "--pass", "pass:nope", "-i", message)
    assert proc.stderr.decode() == "mailseal: error[wrong-password]: the PKCS#12 password is wrong\n"


# -- the library ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", [PASSWORD, PASSWORD.encode()], ids=["str", "bytes"])
def test_library_takes_str_or_bytes(alice: User, encrypted_pem: Path, given: str | bytes) -> None:
    assert Identity.load(alice.p12_path, password=given).certificate == alice.cert
    assert Identity.from_pkcs12(alice.p12_path.read_bytes(), given).certificate == alice.cert
    assert alice.cert in read_certificates(alice.p12_path.read_bytes(), password=given)
    secret = "pem secret" if isinstance(given, str) else b"pem secret"
    ident = Identity.from_pem(encrypted_pem.read_bytes(), alice.cert_path.read_bytes(), password=secret)
    assert ident.certificate == alice.cert


def test_library_non_ascii_str_is_utf8(tmp_path: Path, alice: User) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(alice.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption("pässwörd".encode())))
    assert Identity.load(path, alice.cert_path, password="pässwörd").certificate == alice.cert


def test_library_missing_password_is_its_own_error(alice: User, encrypted_pem: Path) -> None:
    for load in (lambda: Identity.load(alice.p12_path), lambda: Identity.load(encrypted_pem, alice.cert_path),
                 lambda: read_certificates(alice.p12_path.read_bytes())):
        with pytest.raises(PasswordNeededError) as info:
            load()
        assert info.value.code == ErrorCode.PASSWORD_NEEDED
        assert "needs a password" in info.value.message
        assert isinstance(info.value, WrongPasswordError)  # callers that catch the old class still do
    with pytest.raises(WrongPasswordError) as wrong:
        Identity.load(alice.p12_path, password="nope")
    assert wrong.value.code == ErrorCode.WRONG_PASSWORD

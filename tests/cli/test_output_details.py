"""Output and listing details (issue 12, point 7): -o for verify/open, inspect text, names and serials, keys
list/show/export, file modes, and the notice when a command reads a terminal."""

from __future__ import annotations

import datetime
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import RunCli, cli_env
from tests.support.testpki import PASSWORD, TestPKI, User


@pytest.fixture
def alice(pki: TestPKI) -> User:
    return pki.user("alice")


@pytest.fixture
def message(alice: User) -> bytes:
    return f"From: {alice.email}\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhello body\r\n".encode()


@pytest.fixture
def signed(run_cli: RunCli, alice: User, message: bytes) -> bytes:
    proc = run_cli("sign", "--key", alice.p12_path, "--pass", f"pass:{PASSWORD}", input=message)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_verify_writes_content_only_with_o(run_cli: RunCli, pki: TestPKI, signed: bytes) -> None:
    proc = run_cli("verify", "--trust", pki.root_path, input=signed)
    assert proc.returncode == 0, proc.stderr
    assert b"hello body" not in proc.stdout and b"status: valid" in proc.stdout


@pytest.mark.parametrize("command", ["verify", "open"])
def test_o_dash_puts_content_on_stdout_and_report_on_stderr(run_cli: RunCli, pki: TestPKI, signed: bytes,
                                                            command: str) -> None:
    proc = run_cli(command, "--trust", pki.root_path, "-o", "-", input=signed)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(b"hello body\r\n")
    assert b"layer" not in proc.stdout and b"status: valid" in proc.stderr
    as_json = run_cli(command, "--trust", pki.root_path, "-o", "-", "--json", input=signed)
    assert json.loads(as_json.stderr)["status"] == "valid"
    assert b"{" not in as_json.stdout


def _cert_with(serial: int, email: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, email), x509.NameAttribute(NameOID.COMMON_NAME, "Zed")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .sign(key, hashes.SHA256()))


def test_names_and_serials_one_way(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "zed.pem"
    path.write_bytes(_cert_with(0x0ABCDE, "zed@example.org").public_bytes(serialization.Encoding.PEM))
    shown = run_cli("certs", "inspect", path).stdout.decode()
    assert "CN=Zed,E=zed@example.org" in shown
    assert "serial:                0abcde" in shown
    checked = run_cli("certs", "check", path).stdout.decode()
    assert "certificate: CN=Zed,E=zed@example.org (serial 0abcde)" in checked
    data = json.loads(run_cli("certs", "inspect", "--json", path).stdout)["certificates"][0]
    assert (data["subject"], data["serial"]) == ("CN=Zed,E=zed@example.org", "0abcde")
    home = {"MAILSEAL_HOME": str(tmp_path / "home")}
    assert run_cli("trust", "add", "--allow-leaf", path, env=home).returncode == 0
    listed = json.loads(run_cli("trust", "list", "--json", env=home).stdout)["certificates"][0]
    assert (listed["subject"], listed["serial"]) == ("CN=Zed,E=zed@example.org", "0abcde")
    assert "1.2.840.113549.1.9.1" not in run_cli("trust", "list", env=home).stdout.decode()


def test_inspect_text_has_no_json(run_cli: RunCli, signed: bytes) -> None:
    proc = run_cli("inspect", input=signed)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert not any(ch in text for ch in "{}[]\"")
    assert "    - sid:" in text and "issuer: O=mailseal tests,CN=mailseal Test Intermediate" in text


def test_keys_list_headers_and_ids_or_addresses(run_cli: RunCli, tmp_path: Path, alice: User, umask_022: None) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "home"), "MAILSEAL_STORE_PASSPHRASE": "s", "MAILSEAL_ALLOW_KEY_EXPORT": "1"}
    assert run_cli("keys", "import", "--pass", f"pass:{PASSWORD}", alice.p12_path, env=env).returncode == 0
    lines = run_cli("keys", "list", env=env).stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "ADDRESS", "USAGE", "EXPIRES", "FINGERPRINT", "KEY", "SUBJECT"]
    assert lines[1].split()[:2] == ["1", alice.email]
    by_id = run_cli("keys", "show", "1", env=env)
    by_address = run_cli("keys", "show", alice.email, env=env)
    assert by_id.returncode == 0 and by_id.stdout == by_address.stdout
    for target in ("1", alice.email):
        out = tmp_path / f"export-{target}.p12"
        proc = run_cli("keys", "export", target, "--pass", "pass:x", "-o", out, env=env)
        assert proc.returncode == 0, proc.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_output_modes(run_cli: RunCli, pki: TestPKI, alice: User, message: bytes, tmp_path: Path,
                      mask: int) -> None:
    old = os.umask(mask)
    try:
        key = ("--key", str(alice.p12_path), "--pass", f"pass:{PASSWORD}")
        signed, encrypted, plain, opened, content = (tmp_path / n for n in ("s", "e", "d", "o", "v"))
        assert run_cli("sign", *key, "-o", signed, input=message).returncode == 0
        assert run_cli("encrypt", "--to", alice.cert_path, "-i", signed, "-o", encrypted).returncode == 0
        assert run_cli("decrypt", *key, "-i", encrypted, "-o", plain).returncode == 0
        assert run_cli("open", *key, "--trust", pki.root_path, "-i", encrypted, "-o", opened).returncode == 0
        assert run_cli("verify", "--trust", pki.root_path, "-i", signed, "-o", content).returncode == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (signed, encrypted, plain, opened, content)}
    public = 0o666 & ~mask
    assert modes == {"s": public, "e": public, "d": 0o600, "o": 0o600, "v": public}


def test_reading_a_terminal_says_so(tmp_path: Path, signed: bytes) -> None:
    child = pexpect.spawn(sys.executable, ["-m", "mailseal.cli.main", "inspect"], cwd=str(tmp_path),
                          env=cli_env(), timeout=60)
    child.expect_exact("mailseal: reading the message from standard input (end with Ctrl-D)")
    child.sendline("From: a@example.org")
    child.sendline("")
    child.sendline("plain")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert b"content_type: text/plain" in child.before


def test_no_notice_from_a_pipe(run_cli: RunCli, signed: bytes) -> None:
    proc = run_cli("inspect", input=signed)
    assert proc.stderr == b""

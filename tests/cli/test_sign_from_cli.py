"""`mailseal sign` refuses a message whose From is not the certificate's, unless --allow-from-mismatch (RFC 8550
§3; issue 12, point 6): one error line, exit 2, no output file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.support.testpki import TestPKI

BODY = b"To: bob@example.org\r\nSubject: payment\r\n\r\nPay.\r\n"


def _sign(run_cli: RunCli, pki: TestPKI, message: bytes, out: Path, *extra: str) -> tuple[int, bytes]:
    alice = pki.user("alice")
    proc = run_cli("sign", "--key", alice.p12_path, "--pass", "pass:test", "-o", out, *extra, input=message)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("from_field", [b"Eve <eve@evil.example>", b'"alice@example.org" <eve@evil.example>'],
                         ids=["other-address", "address-like-display-name"])
def test_sign_refuses_a_foreign_from(pki: TestPKI, run_cli: RunCli, tmp_path: Path, from_field: bytes) -> None:
    out = tmp_path / "signed.eml"
    code, stderr = _sign(run_cli, pki, b"From: " + from_field + b"\r\n" + BODY, out)
    assert code == 2
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mailseal: error[from-mismatch]: ")
    assert "eve@evil.example" in lines[0] and "alice@example.org" in lines[0] and "--allow-from-mismatch" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_sign_refuses_a_message_without_from(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "signed.eml"
    code, stderr = _sign(run_cli, pki, BODY, out)
    assert code == 2
    assert stderr.decode().startswith("mailseal: error[from-mismatch]: the message has no From address")
    assert not out.exists()


def test_sign_refuses_to_stdout_without_writing(pki: TestPKI, run_cli: RunCli) -> None:
    alice = pki.user("alice")
    proc = run_cli("sign", "--key", alice.p12_path, "--pass", "pass:test", "--opaque",
                   input=b"From: eve@evil.example\r\n" + BODY)
    assert proc.returncode == 2 and proc.stdout == b""


def test_allow_from_mismatch_signs(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "signed.eml"
    code, stderr = _sign(run_cli, pki, b"From: eve@evil.example\r\n" + BODY, out, "--allow-from-mismatch")
    assert code == 0, stderr
    assert b"multipart/signed" in out.read_bytes()


def test_sign_accepts_the_certificate_s_address_in_any_domain_case(pki: TestPKI, run_cli: RunCli,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "signed.eml"
    code, stderr = _sign(run_cli, pki, b'From: "boss@corp.example" <alice@EXAMPLE.org>\r\n' + BODY, out)
    assert code == 0, stderr
    verify = run_cli("verify", "--trust", pki.root_path, "-i", out)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # bob's key for alice's message: refused (the address decides, not the display name)
    bob = pki.user("bob")
    proc = run_cli("sign", "--key", bob.p12_path, "--pass", "pass:test", "-i", out)
    assert proc.returncode == 2 and b"error[from-mismatch]" in proc.stderr

"""`mailseal certs check` and `certs inspect`: verdicts with reasons, exit codes 0/1/2, JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailseal.cms.names import serial_text
from tests.conftest import CORPUS_DIR, RunCli
from tests.support.testpki import TestPKI

CSRSA1 = CORPUS_DIR / "openssl_tests" / "test" / "smime-certs" / "csrsa1.pem"


def _check(run_cli: RunCli, path: Path, *args: str) -> tuple[int, str]:
    proc = run_cli("certs", "check", str(path), *args)
    assert proc.stderr == b"", proc.stderr.decode()
    return proc.returncode, proc.stdout.decode()


def test_good_certificate(run_cli: RunCli, pki: TestPKI) -> None:
    rc, out = _check(run_cli, pki.user("alice").cert_path, "--email", "alice@example.org")
    assert rc == 0
    assert "addresses: alice@example.org" in out
    assert "address alice@example.org: matches" in out
    assert "sign: yes" in out and "encrypt: yes" in out


def test_code_signing_certificate(run_cli: RunCli) -> None:
    if not CSRSA1.is_file():
        pytest.skip(f"corpus file missing: {CSRSA1}")
    rc, out = _check(run_cli, CSRSA1)
    assert rc == 1
    assert "sign: no: " in out and "extended key usage does not include emailProtection" in out


def test_signing_only_certificate(run_cli: RunCli, pki: TestPKI) -> None:
    user = pki.user("signonly", key_usage={"digitalSignature", "nonRepudiation"})
    rc, out = _check(run_cli, user.cert_path, "--email", user.email)
    assert rc == 0  # it can sign for the address
    assert "sign: yes" in out
    assert "encrypt: no: the certificate's key usage does not allow keyEncipherment" in out


def test_expired_certificate(run_cli: RunCli, pki: TestPKI) -> None:
    past = datetime.now(UTC) - timedelta(days=5)
    user = pki.user("expired", not_before=past - timedelta(days=60), not_after=past)
    rc, out = _check(run_cli, user.cert_path, "--email", user.email)
    assert rc == 1
    assert "sign: no: the certificate expired on" in out
    rc, out = _check(run_cli, user.cert_path, "--at", (past - timedelta(days=1)).isoformat())
    assert rc == 0 and "sign: yes" in out


def test_rsa_1024_certificate(run_cli: RunCli, pki: TestPKI) -> None:
    rc, out = _check(run_cli, pki.user("weak", "rsa1024").cert_path)
    assert rc == 1
    assert "the RSA key has only 1024 bits (at least 2048 are required)" in out


def test_address_mismatch(run_cli: RunCli, pki: TestPKI) -> None:
    rc, out = _check(run_cli, pki.user("alice").cert_path, "--email", "mallory@example.org")
    assert rc == 1
    assert "address mallory@example.org: does not match" in out
    assert "mallory@example.org is not an address of the certificate" in out


def test_json_verdict(run_cli: RunCli, pki: TestPKI) -> None:
    user = pki.user("ed", "ed25519")
    rc, out = _check(run_cli, user.cert_path, "--email", user.email, "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["can_sign"] is True and data["can_encrypt"] is False
    assert data["address_matches"] is True and data["addresses"] == [user.email]
    assert data["reasons_sign"] == [] and "can only sign" in data["reasons_encrypt"][0]
    assert data["serial"] == serial_text(user.cert.serial_number)


def test_malformed_input(run_cli: RunCli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"this is not a certificate")
    proc = run_cli("certs", "check", str(junk))
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("mailseal: error[malformed-certificate]:")
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    proc = run_cli("certs", "check", str(tmp_path / "missing.pem"))
    assert proc.returncode == 2 and proc.stderr.decode().startswith("mailseal: error[io]:")


def test_inspect_text(run_cli: RunCli, pki: TestPKI) -> None:
    user = pki.user("alice")
    proc = run_cli("certs", "inspect", str(user.cert_path))
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    fields = {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in lines}
    assert fields["addresses"] == "alice@example.org"
    assert fields["key"] == "RSA 2048"
    assert fields["key usage"] == "digitalSignature, nonRepudiation, keyEncipherment"
    assert fields["extended key usage"] == "emailProtection"
    # two hex digits per byte, leading zeros kept, whatever the serial
    assert fields["serial"] == serial_text(user.cert.serial_number)
    assert fields["issuer"] == pki.intermediate_cert.subject.rfc4514_string()
    assert fields["revocation"] == "not checked here"


def test_inspect_json_bundle(run_cli: RunCli, pki: TestPKI) -> None:
    user = pki.user("alice")
    proc = run_cli("certs", "inspect", "--json", str(user.chain_path))
    assert proc.returncode == 0
    certs = json.loads(proc.stdout)["certificates"]
    assert [c["subject"] for c in certs] == [pki.intermediate_cert.subject.rfc4514_string(),
                                             pki.root_cert.subject.rfc4514_string()]
    assert all(c["ca"] for c in certs)
    assert certs[0]["key_usage"] == ["keyCertSign", "cRLSign"]
    assert certs[0]["smime"] == {"can_sign": False, "can_encrypt": False}

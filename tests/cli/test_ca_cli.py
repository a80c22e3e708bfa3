"""`mailseal ca`: a CA made on the command line issues certificates that OpenSSL and gpgsm accept; CRL and OCSP.

One CA per module (RSA 3072, the default, so gpgsm 2.2 can use it) in a temporary MAILSEAL_HOME.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import mailseal
from mailseal.cms.names import serial_text
from mailseal.pki.profile import check_certificate
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext
from tests.conftest import cli_env, run_mailseal
from tests.support.gpgsm import Gpgsm, entity, split_multipart_signed, wrap_detached
from tests.support.peers import openssl, openssl_cms_proc, require_peer, run_peer
from tests.support.testpki import TestPKI

CA_PASS = "ca passphrase"
P12_PASS = "secret"

pytestmark = pytest.mark.interop


@dataclass
class CA:
    home: Path
    work: Path
    env: dict[str, str]
    ca_pem: Path

    def run(self, *args: str | os.PathLike[str], input: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_mailseal(*args, input=input, env={**self.env, **(env or {})}, cwd=self.work)

    def ok(self, *args: str | os.PathLike[str], input: bytes | None = None) -> bytes:
        proc = self.run(*args, input=input)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    def issue(self, name: str, *extra: str) -> tuple[Path, Path]:
        p12, pem = self.work / f"{name}.p12", self.work / f"{name}.pem"
        self.ok("ca", "issue", "--email", f"{name}@example.org", "-o", p12, "--pass", f"pass:{P12_PASS}",
                "--key-type", "rsa2048", "--cert-out", pem, *extra)
        return p12, pem


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    root = tmp_path_factory.mktemp("ca_cli")
    home, work = root / "home", root / "work"
    work.mkdir()
    env = {"MAILSEAL_HOME": str(home), "MAILSEAL_CA_PASSPHRASE": CA_PASS}
    state = CA(home, work, env, work / "ca.pem")
    out = state.ok("ca", "init", "--name", "Example Org S/MIME CA")
    assert b"created CA 'Example Org S/MIME CA'" in out
    state.ok("ca", "export", "-o", state.ca_pem)
    return state


def _message(sender: str) -> bytes:
    return f"From: {sender}\r\nTo: bob@example.org\r\nSubject: ca test\r\n\r\nhello from {sender}\r\n".encode()


def _sign(ca: CA, p12: Path, sender: str) -> bytes:
    return ca.ok("sign", "--key", p12, "--pass", f"pass:{P12_PASS}", input=_message(sender))


def test_ca_files_private_and_key_encrypted(ca: CA) -> None:
    directory = ca.home / "ca"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes
    key_file = directory / "ca-key.json"
    require_peer("openssl")
    with pytest.raises((ValueError, TypeError)):
        serialization.load_pem_private_key(key_file.read_bytes(), None)
    # openssl cannot read it as a key either, with or without a guess at the passphrase.
    proc = subprocess.run(["openssl", "pkey", "-in", key_file, "-passin", f"pass:{CA_PASS}", "-noout"],
                          capture_output=True, check=False)
    assert proc.returncode != 0


def test_second_init_refused(ca: CA) -> None:
    proc = ca.run("ca", "init", "--name", "Again")
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("mailseal: error[usage]: a CA already exists")
    assert x509.load_pem_x509_certificate(ca.ca_pem.read_bytes()).subject.rfc4514_string() == (
        "CN=Example Org S/MIME CA"
    )


def test_wrong_passphrase(ca: CA) -> None:
    proc = ca.run("ca", "crl", env={"MAILSEAL_CA_PASSPHRASE": "nope"})
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "mailseal: error[wrong-password]: the CA passphrase is wrong"


def test_no_passphrase_and_no_terminal(ca: CA) -> None:
    env = {k: v for k, v in cli_env(ca.env).items() if k != "MAILSEAL_CA_PASSPHRASE"}
    proc = subprocess.run([sys.executable, "-m", "mailseal.cli.main", "ca", "crl"], input=b"", env=env,
                          capture_output=True, cwd=ca.work, timeout=60, check=False, start_new_session=True)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        "mailseal: error[usage]: no terminal to ask for the CA passphrase on: set MAILSEAL_CA_PASSPHRASE"
    )


def test_issue_to_missing_folder_registers_nothing(ca: CA) -> None:
    before = json.loads(ca.ok("ca", "list", "--json"))["certificates"]
    proc = ca.run("ca", "issue", "--email", "lost@example.org", "-o", "no/such/dir/lost.p12", "--pass", "pass:x",
                  "--key-type", "p256")
    assert proc.returncode == 2 and b"cannot write no/such/dir/lost.p12" in proc.stderr
    assert json.loads(ca.ok("ca", "list", "--json"))["certificates"] == before


def test_no_ca_yet(tmp_path: Path) -> None:
    proc = run_mailseal("ca", "list", env={"MAILSEAL_HOME": str(tmp_path / "empty")})
    assert proc.returncode == 2 and b"no CA in" in proc.stderr
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_validity_over_825_days_refused(ca: CA) -> None:
    proc = ca.run("ca", "issue", "--email", "long@example.org", "-o", "long.p12", "--pass", "pass:x",
                  "--key-type", "p256", "--days", "826")
    assert proc.returncode == 2 and b"at most 825 days" in proc.stderr
    assert not (ca.work / "long.p12").exists()


def test_openssl_verifies_signature_of_issued_certificate(ca: CA) -> None:
    require_peer("openssl")
    p12, pem = ca.issue("alice")
    assert check_certificate(x509.load_pem_x509_certificate(pem.read_bytes()), "alice@example.org").can_sign
    signed = ca.work / "alice-signed.eml"
    signed.write_bytes(_sign(ca, p12, "alice@example.org"))
    proc = openssl_cms_proc("-verify", "-CAfile", ca.ca_pem, "-purpose", "smimesign", "-in", signed)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"hello from alice@example.org" in proc.stdout
    # The certificate's own chain check with OpenSSL's S/MIME signing purpose.
    assert b"OK" in openssl("verify", "-CAfile", ca.ca_pem, "-purpose", "smimesign", pem)


def test_gpgsm_accepts_issued_certificate(ca: CA) -> None:
    require_peer("gpgsm")
    require_peer("gpgconf")
    p12, pem = ca.issue("gina", "--legacy", "--usage", "dual")
    signed = _sign(ca, p12, "gina@example.org")
    signed_entity, signature = split_multipart_signed(signed)
    with Gpgsm() as g:
        g.trust_root(ca.ca_pem)
        g.import_p12(p12, P12_PASS)
        result = g.verify(signature, signed_entity)
        assert result.good, result.run.describe()
        assert result.trusted, result.run.describe()
        # And the other way: gpgsm signs with the imported key, mailseal verifies against the CA.
        content = entity("signed by gpgsm")
        gpg_sig = g.sign(content, pem, P12_PASS)
    message = wrap_detached(content, gpg_sig, "gina@example.org", "bob@example.org")
    proc = ca.run("verify", "--trust", ca.ca_pem, input=message)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert b"status: valid" in proc.stdout


def test_revoked_certificate_refused_by_openssl_and_mailseal(ca: CA) -> None:
    require_peer("openssl")
    p12, pem = ca.issue("rob")
    signed = ca.work / "rob-signed.eml"
    signed.write_bytes(_sign(ca, p12, "rob@example.org"))
    serial = serial_text(x509.load_pem_x509_certificate(pem.read_bytes()).serial_number)
    out = ca.ok("ca", "revoke", serial, "--reason", "keyCompromise")
    assert out.decode().startswith(f"revoked {serial} (rob@example.org, keyCompromise)")
    crl_pem = ca.work / "crl.pem"
    ca.ok("ca", "crl", "-o", crl_pem, "--days", "2")
    crl = x509.load_pem_x509_crl(crl_pem.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    # OpenSSL 3.0's `cms` has no -CRLfile: CRLs are read from the CAfile bundle.
    bundle = ca.work / "ca+crl.pem"
    bundle.write_bytes(ca.ca_pem.read_bytes() + crl_pem.read_bytes())
    proc = openssl_cms_proc("-verify", "-CAfile", bundle, "-purpose", "smimesign", "-crl_check", "-in", signed)
    assert proc.returncode != 0
    assert b"certificate revoked" in proc.stderr
    proc = subprocess.run(["openssl", "verify", "-CAfile", ca.ca_pem, "-CRLfile", crl_pem, "-crl_check", pem],
                          capture_output=True, check=False)
    assert proc.returncode != 0 and b"certificate revoked" in proc.stdout + proc.stderr
    # mailseal itself, with the CRL in the validation context.
    context = ValidationContext(trust=TrustStore((x509.load_pem_x509_certificate(ca.ca_pem.read_bytes()),)),
                                crls=(crl.public_bytes(serialization.Encoding.DER),), revocation_mode="hard-fail")
    report = mailseal.verify(signed.read_bytes(), context)
    assert report.status == "revoked", report.signers[0].reasons
    listed = json.loads(ca.ok("ca", "list", "--json"))
    rob = [c for c in listed["certificates"] if c["serial"] == serial]
    assert rob and rob[0]["status"] == "revoked" and rob[0]["reason"] == "keyCompromise"


def test_revoke_by_certificate_file(ca: CA, pki: TestPKI) -> None:
    """`ca revoke FILE` takes the serial from the certificate, as `openssl ca -revoke` does; a certificate
    another CA issued is refused, and nothing is revoked."""
    _p12, pem = ca.issue("rhea")
    serial = serial_text(x509.load_pem_x509_certificate(pem.read_bytes()).serial_number)
    out = ca.ok("ca", "revoke", pem, "--reason", "superseded")
    assert out.decode().startswith(f"revoked {serial} (rhea@example.org, superseded)")
    foreign = ca.work / "foreign.pem"
    foreign.write_bytes(pki.user("alice").cert.public_bytes(serialization.Encoding.PEM))
    proc = ca.run("ca", "revoke", foreign)
    assert proc.returncode != 0 and b"not by this CA" in proc.stderr and b"Traceback" not in proc.stderr


def test_revoke_needs_exactly_one_selector(ca: CA) -> None:
    for args in ([], ["abc", "--email", "x@example.org"]):
        proc = ca.run("ca", "revoke", *args)
        assert proc.returncode == 2 and b"either a SERIAL or --email" in proc.stderr
    proc = ca.run("ca", "revoke", "--email", "nobody@example.org")
    assert proc.returncode == 2 and b"no unrevoked certificate" in proc.stderr


def test_list_text_and_json(ca: CA) -> None:
    _, pem = ca.issue("lisa", "--usage", "encrypt")
    serial = serial_text(x509.load_pem_x509_certificate(pem.read_bytes()).serial_number)
    text = ca.ok("ca", "list").decode()
    assert any(line.startswith(f"{serial}  lisa@example.org  encrypt  rsa2048") and line.endswith("valid")
               for line in text.splitlines())
    data = json.loads(ca.ok("ca", "list", "--json"))
    assert data["ca"] == "CN=Example Org S/MIME CA"
    lisa = next(c for c in data["certificates"] if c["serial"] == serial)
    assert lisa["usage"] == "encrypt" and lisa["status"] == "valid" and lisa["revoked_at"] is None
    verdict = check_certificate(x509.load_pem_x509_certificate(pem.read_bytes()), "lisa@example.org")
    assert verdict.can_encrypt and not verdict.can_sign
    shown = ca.ok("certs", "inspect", pem).decode()
    assert "2.23.140.1.5.1.3 (S/MIME BR mailbox-validated strict)" in shown
    assert "keyEncipherment" in shown and "digitalSignature" not in shown


@contextmanager
def _responder(ca: CA, *extra: str) -> Iterator[str]:
    """`mailseal ca ocsp --port 0` as a subprocess; yields its URL; stops it with SIGTERM (must exit 0)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailseal.cli.main", "ca", "ocsp", "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(ca.env), cwd=ca.work,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read().decode()
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    assert code == 0


def _ocsp_query(ca: CA, pem: Path, url: str) -> str:
    done = run_peer(["openssl", "ocsp", "-issuer", ca.ca_pem, "-cert", pem, "-url", url, "-resp_text",
                     "-CAfile", ca.ca_pem])
    text = (done.stdout + done.stderr).decode()
    assert "Response verify OK" in text, text  # the signature checked by OpenSSL against ca.pem
    return text


def test_ocsp_responder_good_then_revoked(ca: CA) -> None:
    require_peer("openssl")
    _, pem = ca.issue("otto")
    with _responder(ca) as url:
        first = _ocsp_query(ca, pem, url)
        assert f"{pem}: good" in first and "Cert Status: good" in first
        assert "OCSP Nonce" in first  # openssl sends a nonce by default; the responder echoes it
        serial = serial_text(x509.load_pem_x509_certificate(pem.read_bytes()).serial_number)
        ca.ok("ca", "revoke", serial, "--reason", "superseded")
        second = _ocsp_query(ca, pem, url)
        assert f"{pem}: revoked" in second and "Reason: superseded" in second


def test_ocsp_delegated_responder_accepted_by_openssl(ca: CA) -> None:
    require_peer("openssl")
    _, pem = ca.issue("dora")
    with _responder(ca, "--delegated") as url:
        text = _ocsp_query(ca, pem, url)
    assert f"{pem}: good" in text
    assert "OCSP Signing" in text  # the delegated responder certificate travels in the response

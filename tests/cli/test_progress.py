"""Progress bars for long work (issue 12, point 8): drawn on a terminal (a pty here), never in a pipe, never
with --quiet or --json; rich is imported only when a bar is drawn."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mailseal.cli.progress import LARGE_FILE
from tests.conftest import RunCli, cli_env
from tests.support.testpki import PASSWORD, TestPKI

COUNT = 300


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PKCS#7 bundle of COUNT correspondents' certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certs = []
    for i in range(COUNT):
        email = f"user{i}@example.org"
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"User {i}")])
        certs.append(x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                     .serial_number(i + 1).not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
                     .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                    critical=False)
                     .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("bundle") / "people.p7b"
    path.write_bytes(pkcs7.serialize_certificates(certs, serialization.Encoding.DER))
    return path


def on_terminal(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    child = pexpect.spawn(sys.executable, ["-m", "mailseal.cli.main", *map(str, args)], cwd=str(cwd),
                          env=cli_env({"TERM": "xterm", "COLUMNS": "120", **(env or {})}), timeout=300)
    child.expect(pexpect.EOF)
    text = child.before.decode(errors="replace")
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus, text


def test_certs_import_shows_a_bar_on_a_terminal(tmp_path: Path, bundle: Path) -> None:
    status, text = on_terminal("certs", "import", bundle, cwd=tmp_path, env={"MAILSEAL_HOME": str(tmp_path / "h")})
    assert status == 0, text
    assert "importing certificates" in text and f"{COUNT}/{COUNT}" in text
    assert f"imported {COUNT} certificate(s)" in text


@pytest.mark.parametrize("flag", [["--quiet"], ["--json"]], ids=["quiet", "json"])
def test_no_bar_with_quiet_or_json(tmp_path: Path, bundle: Path, flag: list[str]) -> None:
    args = [*flag, "certs", "import", bundle] if flag == ["--quiet"] else ["certs", "import", *flag, bundle]
    status, text = on_terminal(*args, cwd=tmp_path, env={"MAILSEAL_HOME": str(tmp_path / "h")})
    assert status == 0, text
    assert "importing certificates" not in text and "\x1b[" not in text


def test_no_bar_in_a_pipe(run_cli: RunCli, tmp_path: Path, bundle: Path) -> None:
    proc = run_cli("certs", "import", bundle, env={"MAILSEAL_HOME": str(tmp_path / "h")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""


def test_keys_import_of_many_files_and_trust_add_of_many(tmp_path: Path, pki: TestPKI) -> None:
    users = [pki.user(n) for n in ("alice", "bob", "carol")]
    env = {"MAILSEAL_HOME": str(tmp_path / "h"), "MAILSEAL_STORE_PASSPHRASE": "s"}
    status, text = on_terminal("keys", "import", "--pass", f"pass:{PASSWORD}", *(u.p12_path for u in users),
                               cwd=tmp_path, env=env)
    assert status == 0, text
    assert "importing identities" in text and "3/3" in text
    status, text = on_terminal("trust", "add", "--allow-leaf", *(u.cert_path for u in users), cwd=tmp_path, env=env)
    assert status == 0, text
    assert "reading files" in text and "3/3" in text


def test_large_input_file_shows_a_bar(tmp_path: Path, pki: TestPKI) -> None:
    alice = pki.user("alice")
    big = tmp_path / "big.eml"
    line = b"x" * 76 + b"\r\n"
    with big.open("wb") as fh:
        fh.write(f"From: {alice.email}\r\nSubject: big\r\n\r\n".encode())
        fh.write(line * (LARGE_FILE // len(line) + 1000))
    out = tmp_path / "signed.eml"
    status, text = on_terminal("sign", "--key", alice.key_path, "--cert", alice.cert_path, "-i", big, "-o", out,
                               cwd=tmp_path)
    assert status == 0, text
    assert "reading big.eml" in text and "100%" in text
    small = tmp_path / "small.eml"
    small.write_bytes(f"From: {alice.email}\r\n\r\nhi\r\n".encode())
    status, text = on_terminal("sign", "--key", alice.key_path, "--cert", alice.cert_path, "-i", small, cwd=tmp_path)
    assert status == 0 and "reading small.eml" not in text


def test_rich_is_not_imported_without_a_bar(tmp_path: Path, pki: TestPKI) -> None:
    alice = pki.user("alice")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mailseal.cli.main", "sign", "--key",
                           str(alice.key_path), "--cert", str(alice.cert_path)],
                          input=f"From: {alice.email}\r\n\r\nhi\r\n".encode(), capture_output=True, env=cli_env(),
                          timeout=60, check=False, start_new_session=True)
    assert proc.returncode == 0
    assert b"mailseal" in proc.stderr  # importtime did report
    assert b" rich" not in proc.stderr

"""`mailseal keys ...`, `mailseal certs import|list|find|show|remove` and `certs expiring` as subprocesses.

Until main.py attaches the groups they run as ``python -m mailseal.cli.keys`` / ``python -m mailseal.cli.directory``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mailseal.store import fingerprint
from tests.store.certgen import make_cert
from tests.support.testpki import TestPKI

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def run(module: str, home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MAILSEAL_")}
    full.update(PYTHONPATH=str(REPO / "src"), MAILSEAL_HOME=str(home), MAILSEAL_STORE_PASSPHRASE="s3cret")
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", f"mailseal.cli.{module}", *args], capture_output=True, text=True,
                          env=full, timeout=60, check=False)


def test_keys_import_list_show(home: Path, pki: TestPKI) -> None:
    alice = pki.user("alice")
    res = run("keys", home, "import", str(alice.p12_path), "--pass", "pass:test", "--usage", "sign")
    assert res.returncode == 0, res.stderr
    assert "alice@example.org (sign)" in res.stdout
    listed = json.loads(run("keys", home, "list", "--json").stdout)["identities"]
    assert [(i["address"], i["usage"]) for i in listed] == [("alice@example.org", "sign")]
    shown = json.loads(run("keys", home, "show", "alice@example.org", "--json").stdout)["identities"]
    assert shown[0]["fingerprint_sha256"] == fingerprint(alice.cert)


def test_keys_import_key_and_cert(home: Path, pki: TestPKI) -> None:
    bob = pki.user("bob")
    res = run("keys", home, "import", str(bob.key_path), "--cert", str(bob.cert_path))
    assert res.returncode == 0, res.stderr
    assert "bob@example.org (dual)" in res.stdout


def test_keys_wrong_passphrase_is_one_line(home: Path, pki: TestPKI) -> None:
    alice = pki.user("alice")
    assert run("keys", home, "import", str(alice.p12_path), "--pass", "pass:test").returncode == 0
    res = run("keys", home, "import", str(pki.user("bob").p12_path), "--pass", "pass:test",
              env={"MAILSEAL_STORE_PASSPHRASE": "wrong"})
    assert res.returncode == 2
    assert res.stderr.strip() == "mailseal: error[wrong-password]: the key store passphrase is wrong"


def test_keys_export_refused_unless_enabled(home: Path, pki: TestPKI) -> None:
    run("keys", home, "import", str(pki.user("alice").p12_path), "--pass", "pass:test")
    res = run("keys", home, "export", "1", "--pass", "pass:x")
    assert res.returncode == 2
    assert "key export is disabled" in res.stderr
    ok = run("keys", home, "export", "1", "--pass", "pass:x", "-o", str(home / "out.p12"),
             env={"MAILSEAL_ALLOW_KEY_EXPORT": "1"})
    assert ok.returncode == 0, ok.stderr
    assert (home / "out.p12").stat().st_size > 0


def test_keys_remove(home: Path, pki: TestPKI) -> None:
    run("keys", home, "import", str(pki.user("alice").p12_path), "--pass", "pass:test")
    assert run("keys", home, "remove", "alice@example.org").returncode == 0
    assert json.loads(run("keys", home, "list", "--json").stdout)["identities"] == []
    res = run("keys", home, "remove", "alice@example.org")
    assert res.returncode == 2
    assert "no identity matches" in res.stderr


def test_certs_bulk_import_with_summary(home: Path, tmp_path: Path, pki: TestPKI) -> None:
    src = tmp_path / "certs"
    src.mkdir()
    (src / "one.pem").write_bytes(make_cert("one@example.org").public_bytes(serialization.Encoding.PEM))
    (src / "two.der").write_bytes(make_cert("two@example.org").public_bytes(serialization.Encoding.DER))
    (src / "root.pem").write_bytes(pki.root_path.read_bytes())
    (src / "junk.txt").write_bytes(b"not a certificate")
    res = run("directory", home, "import", str(src), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert sorted(a for i in summary["imported"] for a in i["addresses"]) == ["one@example.org", "two@example.org"]
    reasons = {Path(s["file"]).name: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {"root.pem", "junk.txt"}
    assert "CA certificate" in reasons["root.pem"]
    assert res.stderr == ""  # no progress output when stderr is not a terminal
    again = run("directory", home, "import", str(src))
    assert again.stdout.startswith("imported 0 certificate(s), 2 already known, 2 skipped")


def test_certs_find_show_remove(home: Path, tmp_path: Path) -> None:
    cert = make_cert("carol@example.org")
    path = tmp_path / "carol.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    run("directory", home, "import", str(path))
    found = json.loads(run("directory", home, "find", "carol@EXAMPLE.org", "--json").stdout)["certificates"]
    assert [c["fingerprint_sha256"] for c in found] == [fingerprint(cert)]
    shown = json.loads(run("directory", home, "show", fingerprint(cert)[:12], "--json").stdout)
    assert shown["addresses"] == ["carol@example.org"]
    assert run("directory", home, "remove", fingerprint(cert)).returncode == 0
    missing = run("directory", home, "find", "carol@example.org")
    assert missing.returncode == 1
    assert "no certificate for carol@example.org" in missing.stderr


def test_certs_list_and_expiring(home: Path, tmp_path: Path) -> None:
    for email, days in (("soon@example.org", 5), ("later@example.org", 300)):
        (tmp_path / f"{email}.pem").write_bytes(make_cert(email, days=days).public_bytes(serialization.Encoding.PEM))
    run("directory", home, "import", str(tmp_path))
    listed = json.loads(run("directory", home, "list", "--json").stdout)["certificates"]
    assert sorted(c["address"] for c in listed) == ["later@example.org", "soon@example.org"]
    # `certs expiring` (cli/certs.py) looks at the directory among other things; exit 1: something ends soon.
    done = run("main", home, "certs", "expiring", "--within", "30d", "--kind", "directory", "--json")
    assert done.returncode == 1, done.stderr
    assert [c["name"] for c in json.loads(done.stdout)["items"]] == ["soon@example.org"]


def test_certs_show_bad_fingerprint_is_usage_error(home: Path) -> None:
    res = run("directory", home, "show", "xyz")
    assert res.returncode == 2
    assert res.stderr.startswith("mailseal: error[usage]:")
    assert len(res.stderr.strip().splitlines()) == 1


def test_no_key_material_in_data_dir_after_cli_import(home: Path, pki: TestPKI) -> None:
    alice = pki.user("alice")
    run("keys", home, "import", str(alice.p12_path), "--pass", "pass:test")
    pkcs8 = alice.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    pem_line = alice.key_path.read_bytes().splitlines()[1]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files
    for p in files:
        data = p.read_bytes()
        assert pkcs8 not in data and pem_line not in data, p


def test_keys_import_refuses_a_usage_the_certificate_does_not_allow(home: Path, pki: TestPKI) -> None:
    signer = pki.user("signer", key_usage={"digitalSignature"})
    res = run("keys", home, "import", str(signer.p12_path), "--pass", "pass:test", "--usage", "dual")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "mailseal: error[usage]: the certificate does not allow usage dual: the certificate's key usage does not "
        "allow keyEncipherment"]
    res = run("keys", home, "import", str(signer.p12_path), "--pass", "pass:test")
    assert res.returncode == 0, res.stderr
    assert "signer@example.org (sign)" in res.stdout

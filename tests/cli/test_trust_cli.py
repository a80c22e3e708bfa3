"""`mailseal trust` (list, add/import, remove, export as PEM or SST) and `verify --trust FILE.sst`, run as processes.

Every run sets MAILSEAL_HOME to a temporary folder and works in one, so nothing is written into the repository.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mailseal.pki.sst import read_sst, write_sst
from tests.conftest import CORPUS_DIR, run_mailseal
from tests.support.testpki import PASSWORD, TestPKI

ERROR_LINE = re.compile(rb"mailseal: error\[([a-z0-9-]+)\]: [^\n]+\n")
MESSAGE = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Bob Example <bob@example.org>\r\n"
    b"Subject: trust lists\r\n"
    b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <trust-cli@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Signed with a key whose root arrives as an SST file.\r\n"
)


def fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class Home:
    """A data directory and a working directory, both temporary, and a runner bound to them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.work = root / "work"
        self.work.mkdir(parents=True)

    def run(self, *args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_mailseal(*args, input=input, env={"MAILSEAL_HOME": str(self.home)}, cwd=self.work)

    def ok(self, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr.decode()
        return done

    def listed(self) -> list[dict[str, object]]:
        data = json.loads(self.ok("trust", "list", "--json").stdout)
        certificates = data["certificates"]
        assert isinstance(certificates, list)
        return certificates


def assert_one_error_line(done: subprocess.CompletedProcess[bytes], code: str, exit_code: int = 2) -> None:
    assert done.returncode == exit_code, done.stderr.decode()
    match = ERROR_LINE.fullmatch(done.stderr)
    assert match is not None, done.stderr.decode()
    assert match.group(1).decode() == code
    assert b"Traceback" not in done.stderr


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


@pytest.fixture
def ca_files(pki: TestPKI, tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    files = {
        "root.sst": write_sst([pki.root_cert], friendly_names=True),
        "root.pem": pki.root_cert.public_bytes(serialization.Encoding.PEM),
        "inter.der": der(pki.intermediate_cert),
        "both.sst": write_sst([pki.root_cert, pki.ec_intermediate_cert]),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def test_list_of_an_empty_home(home: Home) -> None:
    assert home.listed() == []
    assert b"is empty" in home.ok("trust", "list").stdout
    assert not home.home.exists() or not (home.home / "trust").exists()


def test_add_list_remove(home: Home, pki: TestPKI, ca_files: dict[str, Path]) -> None:
    added = home.ok("trust", "add", ca_files["root.sst"])
    assert b"1 added, 0 moved, 0 already present" in added.stdout
    home.ok("trust", "add", "--intermediate", ca_files["inter.der"])
    listed = home.listed()
    assert [(e["kind"], e["fingerprint_sha256"], e["is_ca"]) for e in listed] == [
        ("anchor", fp(pki.root_cert), True),
        ("intermediate", fp(pki.intermediate_cert), True),
    ]
    assert set(listed[0]) == {
        "subject", "issuer", "serial", "fingerprint_sha256", "not_before", "not_after", "is_ca", "kind",
    }
    assert (home.home / "trust" / "anchors.pem").is_file()

    removed = home.ok("trust", "remove", fp(pki.intermediate_cert)[:10])
    assert b"removed intermediate: O=mailseal tests,CN=mailseal Test Intermediate" in removed.stdout
    assert [e["fingerprint_sha256"] for e in home.listed()] == [fp(pki.root_cert)]


def test_add_same_file_twice_is_idempotent(home: Home, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["root.pem"])
    again = home.ok("trust", "import", ca_files["root.sst"])
    assert b"0 added, 0 moved, 1 already present" in again.stdout
    assert len(home.listed()) == 1


def test_leaf_needs_allow_leaf(home: Home, pki: TestPKI) -> None:
    alice = pki.user("alice")
    refused = home.run("trust", "add", alice.cert_path)
    assert_one_error_line(refused, "usage")
    assert b"not a CA certificate" in refused.stderr
    assert home.listed() == []
    home.ok("trust", "add", "--allow-leaf", alice.cert_path)
    assert [e["is_ca"] for e in home.listed()] == [False]


def test_pkcs12_needs_its_password(home: Home, pki: TestPKI) -> None:
    alice = pki.user("alice")
    assert_one_error_line(home.run("trust", "add", "--allow-leaf", alice.p12_path), "password-needed")
    home.ok("trust", "add", "--allow-leaf", "--pass", f"pass:{PASSWORD}", alice.p12_path)
    assert {e["fingerprint_sha256"] for e in home.listed()} == {fp(alice.cert), fp(pki.intermediate_cert), fp(pki.root_cert)}


def test_remove_unknown_and_ambiguous(home: Home, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["both.sst"])
    assert_one_error_line(home.run("trust", "remove", "nothing like this"), "usage")
    ambiguous = home.run("trust", "remove", "mailseal Test")
    assert_one_error_line(ambiguous, "usage")
    assert b"2 certificates match" in ambiguous.stderr
    home.ok("trust", "remove", "--all", "mailseal Test")
    assert home.listed() == []


def test_remove_by_file(home: Home, pki: TestPKI, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["both.sst"])
    home.ok("trust", "remove", ca_files["root.pem"])
    assert [e["fingerprint_sha256"] for e in home.listed()] == [fp(pki.ec_intermediate_cert)]


def test_export_sst_round_trip(home: Home, pki: TestPKI, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["both.sst"])
    home.ok("trust", "add", "--intermediate", ca_files["inter.der"])
    before = home.listed()
    home.ok("trust", "export", "--format", "sst", "-o", "out.sst")
    exported = (home.work / "out.sst").read_bytes()
    assert exported[:8] == bytes.fromhex("0000000043455254")
    assert [fp(c) for c in read_sst(exported)] == [e["fingerprint_sha256"] for e in before]

    # An admin moves the list elsewhere: a fresh data directory fed with the exported file holds the same
    # certificates in the same order (all as anchors, as Exchange treats its issuing CAs).
    other = Home(home.root / "other")
    other.ok("trust", "add", home.work / "out.sst")
    assert [e["fingerprint_sha256"] for e in other.listed()] == [e["fingerprint_sha256"] for e in before]


def test_export_format_follows_the_file_name(home: Home, pki: TestPKI, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["root.pem"])
    home.ok("trust", "export", "-o", "list.sst")
    home.ok("trust", "export", "-o", "list.pem")
    assert (home.work / "list.sst").read_bytes()[:8] == b"\x00\x00\x00\x00CERT"
    assert (home.work / "list.pem").read_bytes() == pki.root_cert.public_bytes(serialization.Encoding.PEM)
    stdout = home.ok("trust", "export", "--format", "sst").stdout
    assert [der(c) for c in read_sst(stdout)] == [der(pki.root_cert)]


def test_export_anchors_only(home: Home, pki: TestPKI, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["root.pem"])
    home.ok("trust", "add", "--intermediate", ca_files["inter.der"])
    pem = home.ok("trust", "export", "--anchors-only").stdout
    assert pem.count(b"-----BEGIN CERTIFICATE-----") == 1


def test_export_of_an_empty_list_is_an_error(home: Home) -> None:
    assert_one_error_line(home.run("trust", "export", "-o", "x.sst"), "usage")
    assert not (home.work / "x.sst").exists()


def _malformed(pki: TestPKI) -> dict[str, bytes]:
    good = write_sst([pki.root_cert])
    return {
        "truncated": good[:-40],
        "bad-magic": b"\x00\x00\x00\x00TREC" + good[8:],
        "bad-length": good[:16] + struct.pack("<I", len(good) * 4) + good[20:],
        "garbage-cert": bytes.fromhex("0000000043455254 20000000 01000000 05000000") + b"\x30\x03\x02\x01\x05"
        + bytes(12),
    }


@pytest.mark.parametrize("case", ["truncated", "bad-magic", "bad-length", "garbage-cert"])
def test_malformed_sst_is_one_line_exit_2(home: Home, pki: TestPKI, case: str) -> None:
    path = home.work / f"{case}.sst"
    path.write_bytes(_malformed(pki)[case])
    done = home.run("trust", "add", path)
    assert_one_error_line(done, "malformed-certificate")
    assert str(path).encode() in done.stderr
    assert home.listed() == []


def test_pkcs7_corpus_files_via_cli(home: Home) -> None:
    folder = CORPUS_DIR / "pyca_pkcs7"
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder}")
    home.ok("trust", "add", folder / "amazon-roots.p7b", folder / "amazon-roots.der", folder / "isrg.pem")
    subjects = [e["subject"] for e in home.listed()]
    assert subjects == [
        "CN=Amazon Root CA 3,O=Amazon,C=US",
        "CN=Amazon Root CA 2,O=Amazon,C=US",
        "CN=ISRG Root X1,O=Internet Security Research Group,C=US",
    ]


# -- verify with an SST as the trust anchors -------------------------------------------------------------


@pytest.fixture
def signed(home: Home, pki: TestPKI) -> Path:
    alice = pki.user("alice")
    (home.work / "message.eml").write_bytes(MESSAGE)
    home.ok("sign", "--key", alice.p12_path, "--pass", f"pass:{PASSWORD}", "-i", "message.eml", "-o", "signed.eml")
    return home.work / "signed.eml"


def test_verify_with_sst_trust_is_valid(home: Home, signed: Path, ca_files: dict[str, Path]) -> None:
    done = home.run("verify", "--trust", ca_files["root.sst"], "-i", signed)
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    assert b"status: valid" in done.stdout


def test_verify_with_exported_trust_list_is_valid(home: Home, signed: Path, ca_files: dict[str, Path]) -> None:
    home.ok("trust", "add", ca_files["root.pem"])
    home.ok("trust", "export", "-o", "exported.sst")
    done = home.run("verify", "--trust", "exported.sst", "--json", "-i", signed)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["status"] == "valid"


def test_verify_with_unrelated_sst_is_untrusted(home: Home, signed: Path) -> None:
    folder = CORPUS_DIR / "pyca_pkcs7"
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder}")
    roots = read_sst((folder / "amazon-roots.der").read_bytes())
    (home.work / "amazon.sst").write_bytes(write_sst(roots))
    done = home.run("verify", "--trust", "amazon.sst", "-i", signed)
    assert done.returncode == 1
    assert b"status: untrusted" in done.stdout


def test_verify_with_malformed_sst_is_one_line(home: Home, signed: Path, pki: TestPKI) -> None:
    (home.work / "bad.sst").write_bytes(_malformed(pki)["bad-length"])
    assert_one_error_line(home.run("verify", "--trust", "bad.sst", "-i", signed), "malformed-certificate")

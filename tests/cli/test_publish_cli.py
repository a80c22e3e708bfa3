"""`mailseal certs publish`: the formats on stdout, in files and per domain, notes on stderr, the summary, the
refusals of contradictory options. One home per module: identities imported with `keys import`, a CA made with the
library in the home's ``ca`` folder, the accepted domains in its mailseal.toml."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mailseal.cms.identity import load_certificates
from mailseal.pki.authority import CertificateAuthority
from mailseal.store.ldif import certificates_from_ldif
from mailseal.store.smimea import owner_name
from tests.conftest import run_mailseal
from tests.support.dnsserver import Dnsmasq, require_dnsmasq, smimea_rdata
from tests.support.testpki import TestPKI

STORE_PASS = "publish store passphrase"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("publish-home")
    now = datetime.now(UTC)
    users = [pki.user("cli-alice", email="cli-alice@example.org"),
             pki.user("cli-ec", "ec-p256", email="cli-ec@example.net"),
             pki.user("cli-old", email="cli-old@example.org", not_before=now - timedelta(days=400),
                      not_after=now - timedelta(days=1)),
             pki.user("cli-away", email="cli-away@elsewhere.test")]
    for user in users:
        done = run(root, "keys", "import", str(user.p12_path), "--pass", "pass:test")
        assert done.returncode == 0, done.stderr
    ca = CertificateAuthority.create("CLI publishing CA", b"ca", directory=root / "ca", key_type="p256")
    ca.issue("cli-carol@example.org", usage="dual", key_type="p256")
    ca.revoke(ca.issue("cli-dave@example.org", usage="dual", key_type="p256").record.serial, "superseded")
    (root / "mailseal.toml").write_text('[gateway]\naccepted_domains = ["example.org", "example.net"]\n')
    yield root


def run(home: Path, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    # The home's mailseal.toml is the settings file read (the accepted domains).
    return run_mailseal(*args, env={"MAILSEAL_HOME": str(home), "MAILSEAL_STORE_PASSPHRASE": STORE_PASS}, cwd=home)


def test_smimea_of_one_domain_on_stdout_with_notes_on_stderr(home: Path) -> None:
    done = run(home, "certs", "publish", "--smimea", "--domain", "example.org", "--ttl", "3600")
    assert done.returncode == 0, done.stderr
    zone = dns.zone.from_text("@ 60 IN SOA ns. h. 1 2 3 4 5\n@ 60 IN NS ns.\n" + done.stdout.decode(),
                              origin="example.org.", relativize=False)
    owners = {name.to_text() for name, _ in zone.iterate_rdatasets(dns.rdatatype.SMIMEA)}
    assert owners == {owner_name("cli-alice@example.org"), owner_name("cli-carol@example.org")}
    notes = done.stderr.decode()
    assert "cli-old@example.org" in notes and "expired" in notes
    assert "cli-dave@example.org" in notes and "revoked by the internal CA" in notes and "superseded" in notes
    assert "cli-away" not in notes  # at another domain than the one asked for


def test_smimea_of_several_domains_needs_domain_or_out_dir(home: Path, tmp_path: Path) -> None:
    done = run(home, "certs", "publish", "--smimea")
    assert done.returncode == 2 and b"error[usage]" in done.stderr and b"--out-dir" in done.stderr
    out = tmp_path / "zones"
    done = run(home, "-q", "certs", "publish", "--smimea", "--generic", "--out-dir", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""  # --quiet: neither notes nor the files written
    assert sorted(p.name for p in out.iterdir()) == ["example.net.smimea.zone", "example.org.smimea.zone"]
    assert "TYPE53 \\# " in (out / "example.net.smimea.zone").read_text()


def test_ldif_pem_and_p7b_to_files(home: Path, tmp_path: Path) -> None:
    done = run(home, "certs", "publish", "--ldif", "--base-dn", "ou=people,dc=example,dc=org", "-o",
               tmp_path / "people.ldif")
    assert done.returncode == 0, done.stderr
    from_ldif, skipped = certificates_from_ldif((tmp_path / "people.ldif").read_bytes())
    assert skipped == [] and len(from_ldif) == 3  # alice, ec, carol (from the CA)
    assert run(home, "certs", "publish", "--pem", "--chain", "-o", tmp_path / "b.pem").returncode == 0
    assert run(home, "certs", "publish", "--p7b", "-o", tmp_path / "b.p7b").returncode == 0
    p7b = load_certificates((tmp_path / "b.p7b").read_bytes())
    assert set(p7b) == set(from_ldif)
    assert set(load_certificates((tmp_path / "b.pem").read_bytes())) > set(p7b)  # with the chains


def test_summary_json_lists_published_and_skipped(home: Path) -> None:
    done = run(home, "certs", "publish", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    published = {c["address"]: c for c in summary["certificates"]}
    assert set(published) == {"cli-alice@example.org", "cli-ec@example.net", "cli-carol@example.org"}
    assert published["cli-carol@example.org"]["origins"] == ["ca"]
    assert published["cli-alice@example.org"]["published"]["smimea"]["owner"] == owner_name("cli-alice@example.org")
    skipped = {s["address"]: s["reason"] for s in summary["skipped"]}
    assert "accepted domain" in skipped["cli-away@elsewhere.test"]
    text = run(home, "certs", "publish")
    assert text.returncode == 0 and b"SMIMEA OWNER NAME" in text.stdout and b"not published: cli-old" in text.stdout


@pytest.mark.parametrize("args", [
    ("--smimea", "--pem"),
    ("--ldif",),
    ("--pem", "--base-dn", "dc=example,dc=org"),
    ("--pem", "--out-dir", "zones"),
    ("--smimea", "--chain"),
    ("--ldif", "--base-dn", "no dn here"),
    ("--pem", "--check"),
], ids=["two-formats", "ldif-without-base", "base-without-ldif", "out-dir-without-smimea", "chain-with-smimea",
        "bad-base-dn", "check-with-a-format"])
def test_contradictory_or_missing_options_are_usage_errors(home: Path, args: tuple[str, ...]) -> None:
    done = run(home, "certs", "publish", *args)
    assert done.returncode == 2 and done.stderr.startswith(b"mailseal: error[usage]: "), done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.interop
def test_check_asks_the_lookup_servers_and_exits_1_when_one_lacks_a_certificate(home: Path, tmp_path: Path,
                                                                                pki: TestPKI) -> None:
    alice = pki.user("cli-alice", email="cli-alice@example.org")
    server = Dnsmasq(require_dnsmasq(), {owner_name(alice.email): [smimea_rdata(3, 0, 0, alice.cert.public_bytes(
        Encoding.DER))]})
    config = tmp_path / "check.toml"
    try:
        server.start()
        config.write_text('[gateway]\naccepted_domains = ["example.org"]\n[lookup]\norder = ["smimea"]\n'
                          f'[lookup.smimea]\nnameserver = "127.0.0.1"\nport = {server.port}\ntimeout = 2\n')
        done = run(home, "certs", "publish", "--config", config, "--check")
        as_json = run(home, "certs", "publish", "--config", config, "--check", "--json")
    finally:
        server.cleanup()
    assert done.returncode == 1, done.stderr
    out = done.stdout.decode()
    assert "FOUND" in out and "smimea: published" in out
    assert "missing: cli-carol@example.org" in out  # the CA's certificate is not in this DNS
    found = {c["address"]: c["found"]["smimea"]["status"] for c in json.loads(as_json.stdout)["certificates"]}
    assert found == {"cli-alice@example.org": "published", "cli-carol@example.org": "missing"}
    assert as_json.returncode == 1


def test_check_without_lookup_servers_is_a_usage_error(home: Path) -> None:
    done = run(home, "certs", "publish", "--check")
    assert done.returncode == 2 and b"[lookup]" in done.stderr

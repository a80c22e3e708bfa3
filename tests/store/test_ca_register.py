"""The internal CA's register in the store (issue 14, point 7): `StoredRegister` on SQLite and PostgreSQL, the
rule that puts a CA's register in the store when one exists, and a file register taken over on first use."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from mailseal.cms.identity import fingerprint
from mailseal.pki.authority import CertificateAuthority
from mailseal.pki.ca_register import CARegister
from mailseal.store import Store
from mailseal.store.ca_register import StoredRegister, open_authority
from tests.conftest import RunCli

PASS = "ca passphrase"


def _ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create("Register CA", PASS, directory=tmp_path / "ca", key_type="p256")


def test_the_stored_register_keeps_what_the_ca_issued_and_revoked(store: Store, tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    with open_authority(ca.directory, PASS, store=store) as stored:
        assert isinstance(stored.register, StoredRegister)
        first = stored.issue("ann@example.org", key_type="p256")
        second = stored.issue("Ann@Example.org", usage="encrypt", key_type="p256")
        stored.revoke(first.record.serial, "keyCompromise")
        records = stored.records("ANN@example.org")
        assert [r.serial for r in records] == [first.record.serial, second.record.serial]
        assert records[0].revoked_at is not None and records[0].reason == "keyCompromise"
        found = stored.find(second.record.serial)
        assert found is not None and found.certificate == second.certificate
        assert stored.find(12345) is None
        crl = stored.crl(7)
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
        assert crl.get_revoked_certificate_by_serial_number(first.record.serial) is not None
        assert stored.register.next_crl_number() == 2
    assert not (ca.directory / "ca.db").exists()  # the empty file register `create` made is gone
    another = CertificateAuthority.create("Other CA", PASS, directory=tmp_path / "other", key_type="p256")
    with open_authority(another.directory, store=store) as other:  # one table, a register per CA
        assert other.records() == [] and other.register.last_crl_number() == 0


def test_a_file_register_is_taken_over_once(store: Store, tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    loaded = CertificateAuthority.load(ca.directory, PASS)
    issued = [loaded.issue(f"u{i}@example.org", key_type="p256") for i in range(3)]
    loaded.revoke(issued[1].record.serial, "superseded")
    loaded.crl(7)
    loaded.crl(7)
    with open_authority(ca.directory, store=store) as stored:
        assert sorted(r.serial for r in stored.records()) == sorted(i.record.serial for i in issued)
        assert stored.find(issued[1].record.serial).reason == "superseded"  # type: ignore[union-attr]
        assert stored.register.last_crl_number() == 2  # numbers go on growing (RFC 5280 §5.2.3)
    assert not (ca.directory / "ca.db").exists() and (ca.directory / "ca.db.migrated").exists()
    # a stale copy put back is not copied twice
    (ca.directory / "ca.db.migrated").rename(ca.directory / "ca.db")
    register = StoredRegister(store, fingerprint(ca.certificate))
    assert register.take_over(CARegister(ca.directory / "ca.db")) == 0
    assert len(register.records()) == 3


def test_without_a_store_the_file_register_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAILSEAL_DB_URL", raising=False)
    ca = _ca(tmp_path)
    with open_authority(ca.directory, PASS) as opened:
        assert isinstance(opened.register, CARegister)
        opened.issue("bo@example.org", key_type="p256")
    assert (ca.directory / "ca.db").exists() and not (tmp_path / "home" / "mailseal.db").exists()


def test_the_ca_commands_use_the_store_once_it_exists(run_cli: RunCli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"MAILSEAL_HOME": str(home), "MAILSEAL_CA_PASSPHRASE": PASS, "MAILSEAL_STORE_PASSPHRASE": "store secret"}

    def ok(*args: str) -> bytes:
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    ok("ca", "init", "--name", "Before the store", "--key-type", "p256")
    ok("ca", "issue", "--email", "a@example.org", "-o", str(tmp_path / "a.p12"), "--pass", "pass:x",
       "--key-type", "p256")
    ok("ca", "revoke", "--email", "a@example.org", "--reason", "keyCompromise")
    ok("ca", "crl", "-o", str(tmp_path / "1.crl"))
    assert (home / "ca" / "ca.db").exists() and not (home / "mailseal.db").exists()
    ok("keys", "import", str(tmp_path / "a.p12"), "--pass", "pass:x")  # the store comes into being
    listed = json.loads(ok("ca", "list", "--json"))
    assert [(c["email"], c["status"], c["reason"]) for c in listed["certificates"]] == [
        ("a@example.org", "revoked", "keyCompromise")]
    assert (home / "ca" / "ca.db.migrated").exists() and not (home / "ca" / "ca.db").exists()
    ok("ca", "issue", "--email", "b@example.org", "-o", str(tmp_path / "b.p12"), "--pass", "pass:x",
       "--key-type", "p256")
    crl = x509.load_pem_x509_crl(ok("ca", "crl"))
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    with sqlite3.connect(home / "mailseal.db") as db:
        assert sorted(r[0] for r in db.execute("SELECT email FROM ca_certificates")) == ["a@example.org",
                                                                                          "b@example.org"]
    assert not (home / "ca" / "ca.db").exists()  # nothing was written to a file register again
    assert datetime.now(UTC) - timedelta(minutes=5) < crl.last_update_utc

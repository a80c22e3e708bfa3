"""`mailseal backup` / `mailseal restore` as an administrator runs them: a real home (store, CA, trust list, settings,
held mail), real processes, a wiped home restored; tampered archives refused; secrets sealed and opened."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets
import shutil
import sqlite3
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailseal.cms.names import serial_text
from mailseal.store.database import HEAD_REVISION
from tests.conftest import run_mailseal
from tests.support.postgres import drop_database, fresh_database, postgres_url
from tests.support.testpki import TestPKI

__all__ = ["postgres_url"]  # the session fixture, for the PostgreSQL case

STORE_PASSPHRASE = "store passphrase kept elsewhere"
CA_PASSPHRASE = "ca passphrase kept offline"
BACKUP_PASSPHRASE = "a long backup passphrase"
BODY = "The quarterly numbers, for Alice only."


@dataclass
class Site:
    """A home with everything a backup covers, its backup, and what happened after it."""

    root: Path
    home: Path
    archive: Path
    encrypted: Path
    serials_before: set[int]  # the CA's own serial and the certificate issued before the backup
    serial_after: int  # issued after the backup: not in the archive's register

    def env(self, home: Path | None = None, **extra: str) -> dict[str, str]:
        return {"MAILSEAL_HOME": str(home or self.home), "MAILSEAL_STORE_PASSPHRASE": STORE_PASSPHRASE,
                "MAILSEAL_CA_PASSPHRASE": CA_PASSPHRASE, "MAILSEAL_DB_URL": "", **extra}


def _ok(done: object) -> str:
    import subprocess

    assert isinstance(done, subprocess.CompletedProcess)
    assert done.returncode == 0, done.stderr.decode()
    return str(done.stdout.decode())


def _serial(pem: Path) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.read_bytes()).serial_number


def _hold_a_message(home: Path) -> None:
    from mailseal.gateway.held import HeldMessages
    from mailseal.streamio import Region

    data = b"From: alice@example.org\r\nTo: dave@partner.example\r\nSubject: held\r\n\r\nwaiting for a certificate\r\n"
    HeldMessages(home / "held").hold(Region.of_bytes(data), digest=hashlib.sha256(data).hexdigest(),
                                     mail_from="alice@example.org",
                                     reasons={"dave@partner.example": "no certificate"}, message_id="<h@example.org>",
                                     may_sign=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("site")
    home = root / "home"
    s = Site(root, home, root / "backup.tar.gz", root / "encrypted.eml", set(), 0)

    def run(*args: str | Path) -> str:
        return _ok(run_mailseal(*args, env=s.env(), cwd=root))

    run("ca", "init", "--name", "Example Backup CA", "--key-type", "p256")
    run("ca", "export", "-o", root / "ca.pem")
    # before the store exists, so the trust list is the files (a store found later takes them over, docs/trust.md)
    run("trust", "add", root / "ca.pem")
    run("ca", "issue", "--email", "alice@example.org", "--usage", "encrypt", "--key-type", "p256",
        "-o", root / "alice.p12", "--pass", "pass:x", "--cert-out", root / "alice.pem")
    run("keys", "import", root / "alice.p12", "--pass", "pass:x")
    (home / "mailseal.toml").write_text('[gateway]\nlisten = "127.0.0.1:2525"\nnext_hop = "127.0.0.1:2526"\n'
                                        'accepted_domains = ["example.org"]\n')
    _hold_a_message(home)
    (root / "message.eml").write_text(f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: q\r\n\r\n{BODY}\r\n")
    run("encrypt", "--to", root / "alice.pem", "-i", root / "message.eml", "-o", s.encrypted)
    s.serials_before = {_serial(root / "ca.pem"), _serial(root / "alice.pem")}
    done = run_mailseal("backup", "-o", s.archive, env=s.env(), cwd=root)
    out = _ok(done)
    assert "included:" in out and "not included:" in out
    assert "WARNING" in done.stderr.decode() and "store passphrase" in done.stderr.decode()
    # issued after the backup: the restored register will not know it
    run("ca", "issue", "--email", "erin@example.org", "--key-type", "p256", "-o", root / "erin.p12",
        "--pass", "pass:x", "--cert-out", root / "erin.pem")
    s.serial_after = _serial(root / "erin.pem")
    return s


def _members(archive: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(archive, "r:gz") as tar:
        out = []
        for info in tar:
            fh = tar.extractfile(info)
            assert fh is not None
            out.append((info.name, fh.read()))
    return out


def _write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_the_manifest_comes_first_and_says_what_is_in_and_out(site: Site) -> None:
    members = _members(site.archive)
    assert members[0][0] == "manifest.json"
    manifest = json.loads(members[0][1])
    assert manifest["format"] == "mailseal-backup/1" and manifest["head_revision"] == HEAD_REVISION
    contents = manifest["contents"]
    assert contents["store"]["included"] and contents["store"]["backend"] == "sqlite"
    assert contents["store"]["schema_revision"] == HEAD_REVISION and contents["store"]["identities"] == 1
    assert set(contents["ca"]["files"]) == {"ca.pem", "ca.json", "ca-key.json", "ca.db"}
    assert contents["ca"]["issued"] == 1
    assert contents["trust_list"]["files"] == ["anchors.pem"]
    assert contents["settings"]["included"] and contents["held"]["messages"] == 1
    assert contents["secrets"]["included"] is False and "store passphrase" in manifest["warning"]
    assert any("passphrase" in line for line in manifest["not_included"])
    listed = manifest["members"]
    assert {n for n, _ in members[1:]} == set(listed)
    for name, data in members[1:]:
        assert hashlib.sha256(data).hexdigest() == listed[name]["sha256"] and len(data) == listed[name]["size"]
    # no passphrase in the archive, in any member; the keys only sealed
    raw = gzip.decompress(site.archive.read_bytes())
    assert STORE_PASSPHRASE.encode() not in raw and CA_PASSPHRASE.encode() not in raw
    assert site.archive.stat().st_mode & 0o077 == 0


def test_restore_into_a_wiped_home_decrypts_old_mail_and_the_ca_never_reuses_a_serial(site: Site) -> None:
    shutil.rmtree(site.home)
    out = _ok(run_mailseal("restore", site.archive, env=site.env(), cwd=site.root))
    assert "every member matched its SHA-256" in out and "secrets: not in the archive" in out
    # the old message decrypts with the restored store's key: exported through the CLI, and through the API
    exported = site.root / "alice-restored.p12"
    _ok(run_mailseal("keys", "export", "alice@example.org", "--pass", "pass:y", "-o", exported,
                     env=site.env(MAILSEAL_ALLOW_KEY_EXPORT="1")))
    plain = _ok(run_mailseal("decrypt", "--key", exported, "--pass", "pass:y", "-i", site.encrypted,
                             env=site.env()))
    assert BODY in plain
    from mailseal import api
    from mailseal.store import KeyStore, Store

    store = Store.open(f"sqlite:///{site.home / 'mailseal.db'}")
    try:
        identity = KeyStore(store, STORE_PASSPHRASE.encode()).identity_for("alice@example.org", "encrypt")
        assert BODY.encode() in api.decrypt(site.encrypted.read_bytes(), identity)
    finally:
        store.close()
    # the register is the one of the backup: the certificate issued after it is gone from it...
    listed = _ok(run_mailseal("ca", "list", "--json", env=site.env()))
    serials = {int(r["serial"], 16) for r in json.loads(listed)["certificates"]}
    assert serials == site.serials_before - {_serial(site.root / "ca.pem")}
    assert site.serial_after not in serials
    # ...yet the next serial differs from every serial ever issued: 159 random bits (S/MIME BR §7.1)
    _ok(run_mailseal("ca", "issue", "--email", "frank@example.org", "--key-type", "p256",
                     "-o", site.root / "frank.p12", "--pass", "pass:x", "--cert-out", site.root / "frank.pem",
                     env=site.env(), cwd=site.root))
    new = _serial(site.root / "frank.pem")
    assert new not in site.serials_before | {site.serial_after}, serial_text(new)
    assert new.bit_length() > 64
    # the trust list, the settings and the held message came back too
    assert "Example Backup CA" in _ok(run_mailseal("trust", "list", env=site.env()))
    held = json.loads(_ok(run_mailseal("held", "list", "--json", env=site.env())))
    assert [m["recipients"] for m in held] == [["dave@partner.example"]]


def _refused(done: object, code: str) -> str:
    import subprocess

    assert isinstance(done, subprocess.CompletedProcess)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mailseal: error[{code}]: "), err
    return lines[0]


def _nothing_written(target: Path) -> None:
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if ".restore-" in p.name], "a staging folder was left behind"


def test_a_tampered_member_is_refused_and_nothing_is_written(site: Site, tmp_path: Path) -> None:
    members = _members(site.archive)
    changed = [(n, d.replace(b"MII", b"MIJ", 1) if n == "trust/anchors.pem" else d) for n, d in members]
    assert changed != members
    _write_tar(tmp_path / "tampered.tar.gz", changed)
    target = tmp_path / "restored"
    line = _refused(run_mailseal("restore", tmp_path / "tampered.tar.gz", env=site.env(target)), "archive-invalid")
    assert "trust/anchors.pem" in line and "SHA-256" in line
    _nothing_written(target)


@pytest.mark.parametrize("damage", ["truncated", "not-gzip", "extra-member", "missing-member", "no-manifest"])
def test_a_damaged_archive_is_refused_with_a_code(site: Site, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "bad.tar.gz"
    members = _members(site.archive)
    if damage == "truncated":
        bad.write_bytes(site.archive.read_bytes()[: site.archive.stat().st_size // 2])
    elif damage == "not-gzip":
        bad.write_bytes(b"PK\x03\x04 this is a zip, not a mailseal backup")
    elif damage == "extra-member":
        _write_tar(bad, [*members, ("ca/extra.pem", b"not listed")])
    elif damage == "missing-member":
        _write_tar(bad, [m for m in members if m[0] != "ca/ca.db"])
    else:
        _write_tar(bad, members[1:])
    target = tmp_path / "restored"
    _refused(run_mailseal("restore", bad, env=site.env(target)), "archive-invalid")
    _nothing_written(target)


def test_include_secrets_without_a_passphrase_is_refused(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "secret.tar.gz"
    line = _refused(run_mailseal("backup", "-o", out, "--include-secrets", env=site.env()), "usage")
    assert "--passphrase-file" in line
    assert not out.exists()


def test_a_passphrase_without_include_secrets_is_refused(site: Site, tmp_path: Path) -> None:
    (tmp_path / "pass").write_text(BACKUP_PASSPHRASE + "\n")
    _refused(run_mailseal("backup", "-o", tmp_path / "x.tgz", "--passphrase-file", tmp_path / "pass",
                          env=site.env()), "usage")


def test_secrets_round_trip_sealed_to_a_passphrase(site: Site, tmp_path: Path) -> None:
    source = tmp_path / "source-home"
    _ok(run_mailseal("restore", site.archive, env=site.env(source)))
    keyfile = tmp_path / "store.key"
    keyfile.write_bytes(STORE_PASSPHRASE.encode())
    console_key = secrets.token_hex(32)  # the console's key (web/settings.py): it seals the admins' TOTP secrets
    (source / "console.key").write_text(console_key + "\n")
    portal_key = secrets.token_bytes(32)  # the portal's key-encryption key (store/portal_key.py)
    (source / "portal.key").write_bytes(portal_key)
    env = {**site.env(source, MAILSEAL_STORE_KEYFILE=str(keyfile)), "MAILSEAL_STORE_PASSPHRASE": ""}
    (tmp_path / "pass").write_text(BACKUP_PASSPHRASE + "\n")
    archive = tmp_path / "with-secrets.tar.gz"
    out = _ok(run_mailseal("backup", "-o", archive, "--include-secrets", "--passphrase-file", tmp_path / "pass",
                           env=env))
    assert "secrets: store-passphrase, ca-passphrase, console-key, portal-key, sealed to the passphrase" in out
    raw = gzip.decompress(archive.read_bytes())
    assert STORE_PASSPHRASE.encode() not in raw and CA_PASSPHRASE.encode() not in raw
    assert console_key.encode() not in raw and portal_key not in raw
    # a wrong passphrase: refused, nothing written
    (tmp_path / "wrong").write_text("not the backup passphrase\n")
    target = tmp_path / "restored"
    _refused(run_mailseal("restore", archive, "--passphrase-file", tmp_path / "wrong", env=site.env(target)),
             "wrong-password")
    _nothing_written(target)
    # the right one: the secrets come back, 0600, and the restored key file unlocks the restored store
    out = _ok(run_mailseal("restore", archive, "--passphrase-file", tmp_path / "pass", env=site.env(target)))
    assert "secret store-passphrase" in out
    restored_key = target / "secrets" / "store-passphrase"
    assert restored_key.read_bytes() == STORE_PASSPHRASE.encode()
    assert (target / "secrets" / "ca-passphrase").read_bytes() == CA_PASSPHRASE.encode()
    assert (target / "secrets" / "console-key").read_text() == console_key + "\n"
    assert (target / "secrets" / "portal-key").read_bytes() == portal_key
    assert restored_key.stat().st_mode & 0o077 == 0
    unlocked = {**site.env(target, MAILSEAL_STORE_KEYFILE=str(restored_key), MAILSEAL_ALLOW_KEY_EXPORT="1"),
                "MAILSEAL_STORE_PASSPHRASE": ""}
    _ok(run_mailseal("keys", "export", "alice@example.org", "--pass", "pass:z", "-o", tmp_path / "a.p12",
                     env=unlocked))


def test_secrets_sealed_to_an_admin_certificate(site: Site, tmp_path: Path, pki: TestPKI) -> None:
    admin, other = pki.user("admin"), pki.user("other")
    archive = tmp_path / "to-admin.tar.gz"
    _ok(run_mailseal("backup", "-o", archive, "--include-secrets", "--to-cert", admin.cert_path, env=site.env()))
    names = [n for n, _ in _members(archive)]
    assert "secrets.p7m" in names and "secrets.enc" not in names
    target = tmp_path / "restored"
    done = run_mailseal("restore", archive, "--key", other.p12_path, "--pass", "pass:test", env=site.env(target))
    assert done.returncode == 1 and b"error[" in done.stderr and b"Traceback" not in done.stderr
    _nothing_written(target)
    _ok(run_mailseal("restore", archive, "--key", admin.p12_path, "--pass", "pass:test", env=site.env(target)))
    assert (target / "secrets" / "store-passphrase").read_bytes() == STORE_PASSPHRASE.encode()


def test_a_manifest_changed_with_its_member_is_caught_by_the_sealed_digests(site: Site, tmp_path: Path) -> None:
    (tmp_path / "pass").write_text(BACKUP_PASSPHRASE + "\n")
    archive = tmp_path / "sealed.tar.gz"
    _ok(run_mailseal("backup", "-o", archive, "--include-secrets", "--passphrase-file", tmp_path / "pass",
                     env=site.env()))
    members = _members(archive)
    manifest = json.loads(members[0][1])
    # ca/ca.pem: an earlier test's `trust list` took the home's file list over into the store (docs/trust.md)
    new_pem = dict(members)["ca/ca.pem"] + b"\n"
    manifest["members"]["ca/ca.pem"] = {"sha256": hashlib.sha256(new_pem).hexdigest(), "size": len(new_pem)}
    forged = [("manifest.json", json.dumps(manifest).encode()),
              *((n, new_pem if n == "ca/ca.pem" else d) for n, d in members[1:])]
    _write_tar(tmp_path / "forged.tar.gz", forged)
    target = tmp_path / "restored"
    line = _refused(run_mailseal("restore", tmp_path / "forged.tar.gz", "--passphrase-file", tmp_path / "pass",
                                 env=site.env(target)), "archive-invalid")
    assert "sealed with the secrets" in line
    _nothing_written(target)


def test_restore_refuses_a_non_empty_home_unless_forced(site: Site, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    line = _refused(run_mailseal("restore", site.archive, env=site.env(target)), "usage")
    assert "not empty" in line and "--force" in line
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    _ok(run_mailseal("restore", site.archive, "--force", env=site.env(target)))
    assert (target / "mailseal.db").is_file() and (target / "notes.txt").read_text() == "mine"


def test_the_snapshot_is_consistent_while_a_writer_holds_a_transaction(site: Site, tmp_path: Path) -> None:
    home = tmp_path / "live"
    _ok(run_mailseal("restore", site.archive, env=site.env(home)))
    writer = sqlite3.connect(home / "mailseal.db", isolation_level=None, timeout=30)
    try:
        assert writer.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)  # as the store runs it
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO audit_log (time, actor, action, subject, detail) "
                       "VALUES ('2026-01-01 00:00:00', 'test', 'uncommitted.write', 'x', '{}')")
        archive = tmp_path / "live.tar.gz"
        _ok(run_mailseal("backup", "-o", archive, env=site.env(home)))  # does not wait for the writer
        writer.execute("COMMIT")
    finally:
        writer.close()
    snapshot = tmp_path / "snap.db"
    snapshot.write_bytes(dict(_members(archive))["store/mailseal.db"])
    with sqlite3.connect(snapshot) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        actions = {r[0] for r in db.execute("SELECT action FROM audit_log")}
    assert "keys.import" in actions and "uncommitted.write" not in actions


@pytest.fixture
def two_pg_databases(postgres_url: str) -> Iterator[tuple[str, str]]:
    first, first_name = fresh_database(postgres_url)
    second, second_name = fresh_database(postgres_url)
    try:
        yield first, second
    finally:
        drop_database(postgres_url, first_name)
        drop_database(postgres_url, second_name)


def test_postgresql_store_goes_through_pg_dump_and_pg_restore(site: Site, tmp_path: Path, pki: TestPKI,
                                                              two_pg_databases: tuple[str, str]) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore not on PATH")
    source_url, target_url = two_pg_databases
    alice = pki.user("alice")
    env = site.env(tmp_path / "pg-home", MAILSEAL_DB_URL=source_url)
    _ok(run_mailseal("keys", "import", alice.p12_path, "--pass", "pass:test", env=env))
    archive = tmp_path / "pg.tar.gz"
    _ok(run_mailseal("backup", "-o", archive, env=env))
    manifest = json.loads(_members(archive)[0][1])
    assert manifest["contents"]["store"]["backend"] == "postgresql"
    assert manifest["contents"]["store"]["schema_revision"] == HEAD_REVISION
    assert "store/mailseal.pgdump" in manifest["members"]
    restored_env = site.env(tmp_path / "pg-restored", MAILSEAL_DB_URL=target_url)
    _ok(run_mailseal("restore", archive, env=restored_env))
    listed = json.loads(_ok(run_mailseal("keys", "list", "--json", env=restored_env)))
    assert [k["address"] for k in listed["identities"]] == ["alice@example.org"]
    # into a database that is no longer empty: refused without --force
    _refused(run_mailseal("restore", archive, env=site.env(tmp_path / "pg-again", MAILSEAL_DB_URL=target_url)),
             "usage")


def test_force_restores_over_an_existing_store(site: Site, tmp_path: Path) -> None:
    target = tmp_path / "existing"
    _ok(run_mailseal("restore", site.archive, env=site.env(target)))
    _ok(run_mailseal("keys", "remove", "alice@example.org", env=site.env(target)))
    assert json.loads(_ok(run_mailseal("keys", "list", "--json", env=site.env(target))))["identities"] == []
    _refused(run_mailseal("restore", site.archive, env=site.env(target)), "usage")
    _ok(run_mailseal("restore", site.archive, "--force", env=site.env(target)))
    listed = json.loads(_ok(run_mailseal("keys", "list", "--json", env=site.env(target))))["identities"]
    assert [k["address"] for k in listed] == ["alice@example.org"]
    with sqlite3.connect(target / "mailseal.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_short_backup_passphrase_is_refused_before_any_work(site: Site, tmp_path: Path) -> None:
    (tmp_path / "short").write_text("too short\n")
    out = tmp_path / "x.tar.gz"
    line = _refused(run_mailseal("backup", "-o", out, "--include-secrets", "--passphrase-file", tmp_path / "short",
                                 env=site.env()), "usage")
    assert "at least 12" in line and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mailseal-backup-")]

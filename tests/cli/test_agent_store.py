"""The resident agent and the key store: after a command has opened a SQLite store, the agent keeps an engine for it
(warmed, read-only) so the next command on it starts faster; every command still sees the store as it is when it
runs: an identity added or a key rotated after the agent prepared the store, a schema changed, a store replaced or
deleted, another MAILSEAL_HOME.

Every command goes through ``python -m mailseal.cli.launcher`` (the ``mailseal`` executable) with
``MAILSEAL_AGENT=on``; the store is a real SQLite file in the agent fixture's home.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import mailseal
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext
from mailseal.store.database import HEAD_REVISION, SQLITE_FILE, inspect_schema, known_revisions, make_engine, migrate
from tests.cli.conftest import Agent
from tests.support.testpki import PASSWORD, TestPKI, User

PASSPHRASE = {"MAILSEAL_STORE_PASSPHRASE": "store secret"}


def _message(tmp_path: Path, user: User) -> Path:
    path = tmp_path / f"{user.name}-{user.key_type}.eml"
    path.write_bytes(f"From: {user.email}\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n".encode())
    return path


def _import(agent: Agent, user: User, **env: str) -> None:
    proc = agent.run("keys", "import", user.p12_path, "--pass", f"pass:{PASSWORD}", **PASSPHRASE, **env)
    assert proc.returncode == 0, proc.stderr.decode()


def _signer_of(agent: Agent, user: User, pki: TestPKI, tmp_path: Path, **env: str) -> x509.Certificate:
    """Sign a message from ``user`` with ``sign --from`` through the agent; the certificate that signed it."""
    out = tmp_path / "signed.eml"
    proc = agent.run("sign", "--from", user.email, "-i", _message(tmp_path, user), "-o", out, **PASSPHRASE, **env)
    assert proc.returncode == 0, proc.stderr.decode()
    report = mailseal.verify(out.read_bytes(), ValidationContext(trust=TrustStore((pki.root_cert,))))
    assert report.status == "valid", report.to_dict()
    cert = report.signers[0].certificate
    assert cert is not None
    return cert


def _fp(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _database(home: Path) -> Path:
    return home / SQLITE_FILE


def test_the_agent_keeps_the_store_it_saw_and_a_new_identity_is_seen(
        agent: Agent, pki: TestPKI, tmp_path: Path) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    assert agent.run("agent", "start").returncode == 0
    assert agent.status()["stores_kept"] == 0
    _import(agent, alice)
    # The command opened the store; the agent prepared it after answering.
    assert agent.status()["stores_kept"] == 1
    assert _fp(_signer_of(agent, alice, pki, tmp_path)) == _fp(alice.cert)
    # An identity filed after the agent prepared the store is found by the next command.
    _import(agent, bob)
    assert _fp(_signer_of(agent, bob, pki, tmp_path)) == _fp(bob.cert)
    assert agent.status()["stores_kept"] == 1


def test_a_rotated_key_is_the_one_used(agent: Agent, pki: TestPKI, tmp_path: Path) -> None:
    old, new = pki.user("alice"), pki.user("alice", "ec-p256")
    assert old.email == new.email
    _import(agent, old)
    assert _fp(_signer_of(agent, old, pki, tmp_path)) == _fp(old.cert)
    proc = agent.run("keys", "remove", old.email, **PASSPHRASE)
    assert proc.returncode == 0, proc.stderr.decode()
    _import(agent, new)
    assert agent.status()["stores_kept"] == 1
    assert _fp(_signer_of(agent, new, pki, tmp_path)) == _fp(new.cert)


def test_a_schema_changed_under_the_agent_is_checked_again(agent: Agent, pki: TestPKI, tmp_path: Path) -> None:
    alice = pki.user("alice")
    _import(agent, alice)
    _signer_of(agent, alice, pki, tmp_path)
    assert agent.status()["stores_kept"] == 1
    db = _database(agent.home)
    # A newer mailseal upgraded the store meanwhile: this one must refuse it, as it does without the agent.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    proc = agent.run("sign", "--from", alice.email, "-i", _message(tmp_path, alice), **PASSPHRASE)
    assert proc.returncode == 2 and b"error[schema-mismatch]" in proc.stderr and b"9999" in proc.stderr
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (HEAD_REVISION,))
    assert _fp(_signer_of(agent, alice, pki, tmp_path)) == _fp(alice.cert)


def test_a_store_replaced_by_an_older_one_is_upgraded_and_read_afresh(
        agent: Agent, pki: TestPKI, tmp_path: Path) -> None:
    alice = pki.user("alice")
    _import(agent, alice)
    assert agent.status()["stores_kept"] == 1
    db = _database(agent.home)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    previous = known_revisions()[-2]
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine, previous)  # an empty store of the previous release, where the agent's store was
    engine.dispose()
    proc = agent.run("keys", "list", "--json", **PASSPHRASE)
    assert proc.returncode == 0, proc.stderr.decode()
    assert alice.email not in proc.stdout.decode()  # nothing of the store that was there before
    assert inspect_schema(f"sqlite:///{db}").current == HEAD_REVISION  # upgraded by the command, as without agent
    proc = agent.run("sign", "--from", alice.email, "-i", _message(tmp_path, alice), **PASSPHRASE)
    assert proc.returncode == 2 and b"no valid sign identity" in proc.stderr


def test_a_deleted_store_is_created_again_as_without_the_agent(agent: Agent, pki: TestPKI, tmp_path: Path) -> None:
    alice = pki.user("alice")
    _import(agent, alice)
    assert alice.email in agent.run("keys", "list", "--json").stdout.decode()
    assert agent.status()["stores_kept"] == 1
    db = _database(agent.home)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    proc = agent.run("keys", "list", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert alice.email not in proc.stdout.decode()
    assert inspect_schema(f"sqlite:///{db}").current == HEAD_REVISION
    proc = agent.run("sign", "--from", alice.email, "-i", _message(tmp_path, alice), **PASSPHRASE)
    assert proc.returncode == 2 and b"no valid sign identity" in proc.stderr


def test_each_home_has_its_own_store(agent: Agent, pki: TestPKI, tmp_path: Path) -> None:
    first, second = pki.user("alice"), pki.user("alice", "ec-p256")
    other_home = str(tmp_path / "other-home")
    _import(agent, first)
    _import(agent, second, MAILSEAL_HOME=other_home)
    assert agent.status()["stores_kept"] == 2
    for _ in range(2):  # alternating: neither store's preparation leaks into the other's commands
        assert _fp(_signer_of(agent, first, pki, tmp_path)) == _fp(first.cert)
        assert _fp(_signer_of(agent, second, pki, tmp_path, MAILSEAL_HOME=other_home)) == _fp(second.cert)


@pytest.mark.parametrize("command", [("sign", "--key"), ("certs", "inspect")])
def test_commands_without_a_store_leave_none_kept(agent: Agent, command: tuple[str, ...], message: Path,
                                                  alice: User) -> None:
    target = alice.key_path if command[0] == "sign" else alice.cert_path
    args = (*command, target, "--cert", alice.cert_path, "-i", message) if command[0] == "sign" else (*command, target)
    proc = agent.run(*args)
    assert proc.returncode == 0, proc.stderr.decode()
    assert agent.status()["stores_kept"] == 0
    assert not _database(agent.home).exists()

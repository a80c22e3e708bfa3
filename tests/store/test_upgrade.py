"""Schema upgrades: the gateway refuses an older schema until `mailseal store upgrade` (or auto_migrate), a fresh
database is created at head everywhere, a newer schema is refused by everyone; on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from mailseal.cms.identity import Identity
from mailseal.errors import ConfigurationError
from mailseal.store import KeyStore, Store
from mailseal.store.database import (
    HEAD_REVISION,
    STARTUP_WAIT_SECONDS,
    SchemaError,
    inspect_schema,
    known_revisions,
    make_engine,
    migrate,
    open_service_store,
    startup_wait,
    upgrade_schema,
)
from tests.conftest import RunCli, cli_env
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.smtp_sink import free_port
from tests.support.testpki import TestPKI

#: The schema of the previous release: the revision before head.
PREVIOUS = known_revisions()[-2]


def _build_at(url: str, revision: str) -> None:
    """A database at ``revision``, made by running the real migrations up to it (Alembic ``upgrade REV``)."""
    engine = make_engine(url)
    try:
        migrate(engine, revision)
    finally:
        engine.dispose()


def test_there_is_a_previous_revision() -> None:
    assert known_revisions()[-1] == HEAD_REVISION and PREVIOUS != HEAD_REVISION


def test_the_service_refuses_an_older_schema_and_leaves_it_alone(store_url: str) -> None:
    _build_at(store_url, PREVIOUS)
    assert inspect_schema(store_url).state == "behind"
    with pytest.raises(SchemaError) as refused:
        open_service_store({}, store_url)
    assert refused.value.code == "schema-mismatch"
    assert "mailseal store upgrade" in refused.value.message and PREVIOUS in refused.value.message
    assert inspect_schema(store_url).current == PREVIOUS


def test_upgrade_keeps_the_data_and_the_service_then_opens(store_url: str, pki: TestPKI) -> None:
    _build_at(store_url, PREVIOUS)
    # a key filed by the previous release (the tables it uses are all there at PREVIOUS)
    old = Store.open(store_url, run_migrations=False)
    user = pki.user("alice")
    alice = Identity(user.key, user.cert, tuple(user.chain))
    KeyStore(old, PASSPHRASE, scrypt=FAST_SCRYPT).add(alice, "dual")
    old.close()
    before, after = upgrade_schema(store_url)
    assert (before.current, after.current) == (PREVIOUS, HEAD_REVISION)
    store = open_service_store({}, store_url)
    try:
        identity = KeyStore(store, PASSPHRASE).identity_for("alice@example.org", "encrypt")
        assert identity.certificate == alice.certificate
        from mailseal.store.users import Users  # the table the newest migration added works

        Users(store).add("alice", b"a long enough password", ["alice@example.org"])
        assert [u.username for u in Users(store).list()] == ["alice"]
    finally:
        store.close()
    assert upgrade_schema(store_url)[0].current == HEAD_REVISION  # a second upgrade changes nothing


def test_auto_migrate_lets_the_service_upgrade(store_url: str) -> None:
    _build_at(store_url, PREVIOUS)
    open_service_store({"store": {"auto_migrate": True}}, store_url).close()
    assert inspect_schema(store_url).current == HEAD_REVISION


def test_an_empty_database_is_created_at_head_by_the_service(store_url: str) -> None:
    assert inspect_schema(store_url).state == "empty"
    open_service_store({}, store_url).close()
    assert inspect_schema(store_url).state == "current"


def test_the_library_and_cli_open_still_upgrade_an_older_schema(store_url: str) -> None:
    _build_at(store_url, PREVIOUS)
    Store.open(store_url).close()
    assert inspect_schema(store_url).current == HEAD_REVISION


def test_a_newer_schema_is_refused_by_everyone(store_url: str) -> None:
    Store.open(store_url).close()
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    assert inspect_schema(store_url).state == "ahead"
    for attempt in (lambda: Store.open(store_url), lambda: open_service_store({"store": {"auto_migrate": True}},
                                                                               store_url),
                    lambda: upgrade_schema(store_url)):
        with pytest.raises(SchemaError, match=r"9999.*does not know"):
            attempt()


@pytest.mark.parametrize("table", [{"auto_migrat": True}, {"auto_migrate": "yes"}])
def test_store_settings_are_checked(table: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"store\.auto_migrat"):
        open_service_store({"store": table}, f"sqlite:///{tmp_path / 'x.db'}")


def test_the_start_up_wait_for_the_database_is_a_setting() -> None:
    assert startup_wait({}) == STARTUP_WAIT_SECONDS
    assert startup_wait({"store": {"startup_wait_seconds": 0}}) == 0
    for bad in (-1, "10", True):
        with pytest.raises(ConfigurationError, match=r"store\.startup_wait_seconds"):
            startup_wait({"store": {"startup_wait_seconds": bad}})


def test_store_status_and_upgrade_commands(run_cli: RunCli, store_url: str, tmp_path: Path) -> None:
    env = {"MAILSEAL_DB_URL": store_url, "MAILSEAL_HOME": str(tmp_path / "home")}
    _build_at(store_url, PREVIOUS)
    status = run_cli("store", "status", env=env)
    assert status.returncode == 1, status.stderr
    out = status.stdout.decode()
    assert f"revision: {PREVIOUS}" in out and f"head: {HEAD_REVISION}" in out and "mailseal store upgrade" in out
    done = run_cli("store", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert f"upgraded from revision {PREVIOUS} to {HEAD_REVISION}" in done.stdout.decode()
    status = run_cli("store", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert b'"state": "current"' in status.stdout
    again = run_cli("store", "upgrade", env=env)
    assert again.returncode == 0 and b"already at revision" in again.stdout


def test_store_status_creates_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_cli("store", "status", env={"MAILSEAL_HOME": str(home)})
    assert done.returncode == 1 and b"state: no store yet" in done.stdout
    assert not home.exists()


def _serve(tmp_path: Path, store_url: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = tmp_path / "mailseal.toml"
    config.write_text(f'[gateway]\nlisten = "127.0.0.1:{port}"\nnext_hop = "127.0.0.1:{free_port()}"\n'
                      'accepted_domains = ["example.org"]\n')
    env = cli_env({"MAILSEAL_DB_URL": store_url, "MAILSEAL_HOME": str(tmp_path / "home"),
                   "MAILSEAL_STORE_PASSPHRASE": PASSPHRASE.decode()})
    proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(config), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, port


def _listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    return proc.returncode


def test_serve_refuses_an_older_schema_then_serves_after_store_upgrade(run_cli: RunCli, store_url: str,
                                                                        tmp_path: Path) -> None:
    _build_at(store_url, PREVIOUS)
    proc, _port = _serve(tmp_path, store_url)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 78  # EX_CONFIG: an administrator must act, a restart would not help
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mailseal: error[schema-mismatch]: ") and "`mailseal store upgrade`" in lines[0]
    assert inspect_schema(store_url).current == PREVIOUS
    upgraded = run_cli("store", "upgrade", env={"MAILSEAL_DB_URL": store_url, "MAILSEAL_HOME": str(tmp_path / "h")})
    assert upgraded.returncode == 0, upgraded.stderr
    proc, port = _serve(tmp_path, store_url)
    try:
        assert _listening(proc, port), proc.stderr.read() if proc.stderr and proc.poll() is not None else b""
    finally:
        assert _stop(proc) == 0


def test_serve_migrate_upgrades_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'home' / 'mailseal.db'}"
    _build_at(url, PREVIOUS)
    proc, port = _serve(tmp_path, url, "--migrate")
    try:
        assert _listening(proc, port)
    finally:
        assert _stop(proc) == 0
    assert inspect_schema(url).current == HEAD_REVISION


def test_check_config_checks_the_store_table(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text('[gateway]\nnext_hop = "127.0.0.1:2526"\naccepted_domains = ["example.org"]\n'
                      "[store]\nauto_migrat = true\n")
    done = run_cli("serve", "--check-config", "--config", config, env={"MAILSEAL_HOME": str(tmp_path / "h")})
    assert done.returncode == 78 and b"error[configuration]: unknown setting store.auto_migrat" in done.stderr
    config.write_text(config.read_text().replace("auto_migrat ", "auto_migrate "))
    assert run_cli("serve", "--check-config", "--config", config,
                   env={"MAILSEAL_HOME": str(tmp_path / "h")}).returncode == 0

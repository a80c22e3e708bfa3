"""The store opens, migrates, and is configured for concurrent writers (WAL, foreign keys, busy timeout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from mailseal.store import Store
from mailseal.store.database import HEAD_REVISION, database_url


def test_migrations_create_every_table(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"settings", "identities", "recipient_certificates", "trust_certificates", "audit_log",
            "alembic_version"} <= names


def test_reopening_a_migrated_store_keeps_one_revision(store_url: str) -> None:
    Store.open(store_url).close()
    again = Store.open(store_url)
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD_REVISION]
    again.close()


def test_default_url_is_sqlite_file_in_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAILSEAL_DB_URL", raising=False)
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{(tmp_path / 'home').resolve() / 'mailseal.db'}"


def test_db_url_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_DB_URL", "postgresql+psycopg://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert (tmp_path / "x.db").stat().st_mode & 0o077 == 0
    store.close()


def test_head_revision_is_alembic_head() -> None:
    """Opening skips Alembic when the database is at HEAD_REVISION: it must be the newest migration."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from mailseal.store.database import HEAD_REVISION, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_schema_revision_of_new_and_migrated_store(tmp_path: Path) -> None:
    from mailseal.store.database import HEAD_REVISION, make_engine, schema_revision

    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    assert schema_revision(engine) is None
    engine.dispose()
    store = Store.open(url)
    assert schema_revision(store.engine) == HEAD_REVISION
    store.close()


def test_an_unsupported_database_url_is_a_configuration_error() -> None:
    from mailseal.errors import ConfigurationError, ErrorCode
    from mailseal.store.database import make_engine

    with pytest.raises(ConfigurationError) as info:
        make_engine("mysql://db.example.org/mailseal")
    assert info.value.code == ErrorCode.CONFIGURATION and "'mysql'" in info.value.message


def test_a_connection_the_server_ended_is_a_temporary_error(postgres_url: str) -> None:
    """PostgreSQL ends the store's pooled connection (pg_terminate_backend, as a restart or failover would): the
    next session raises ``TemporaryError`` (the gateway answers 4xx), and the one after reconnects."""
    import psycopg

    from mailseal.errors import ErrorCode, TemporaryError
    from tests.support.postgres import _libpq, drop_database, fresh_database

    url, name = fresh_database(postgres_url)
    store = Store.open(url)
    try:
        with store.session() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        from sqlalchemy.engine import make_url

        with psycopg.connect(_libpq(make_url(url)), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        with pytest.raises(TemporaryError) as info, store.session() as session:
            session.execute(text("SELECT 1"))
        assert info.value.code == ErrorCode.TEMPORARY_FAILURE
        assert info.value.message.startswith("the store database did not answer")
        with store.session() as session:
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        store.close()
        drop_database(postgres_url, name)


def test_a_missing_table_is_not_temporary(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    from mailseal.errors import TemporaryError

    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with pytest.raises(OperationalError) as info, store.session() as session:
            session.execute(text("SELECT * FROM no_such_table"))
        assert not isinstance(info.value, TemporaryError)
    finally:
        store.close()


def test_a_sqlite_lock_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    """The classification on a real SQLITE_BUSY (the store waits 30 s for it; this engine does not wait)."""
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from mailseal.store.database import unavailable

    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (a)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(DBAPIError) as info, engine.connect() as conn:
            conn.execute(text("SELECT * FROM t"))
        assert getattr(info.value.orig, "sqlite_errorname", None) == "SQLITE_BUSY"
        assert unavailable(info.value)
        holder.execute("ROLLBACK")
        with pytest.raises(DBAPIError) as missing, engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
        assert not unavailable(missing.value)
    finally:
        engine.dispose()
        holder.close()


def test_not_created_yet_names_only_a_missing_sqlite_file(tmp_path: Path) -> None:
    from mailseal.store.database import not_created_yet

    present = tmp_path / "present.db"
    present.write_bytes(b"")
    assert not_created_yet(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not not_created_yet(f"sqlite:///{present}")
    assert not not_created_yet("sqlite://")  # in memory: nothing on disk
    assert not not_created_yet("postgresql+psycopg://u@127.0.0.1:1/db")

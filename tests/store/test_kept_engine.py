"""Engines kept by a process that forks (the resident agent): made and warmed read-only for an existing SQLite store,
taken by ``Store.open`` in the children, which open their own connections and check the schema themselves."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from mailseal.store import Store, database
from mailseal.store.database import (
    SchemaError,
    keep_engine,
    kept_store_urls,
    make_engine,
    opened_store_urls,
    schema_revision,
)


@pytest.fixture(autouse=True)
def _nothing_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(database, "_kept", {})
    monkeypatch.setattr(database, "_opened", {})
    yield
    for engine, _pid in database._kept.values():
        engine.dispose()


@pytest.fixture
def store_file(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'home' / 'mailseal.db'}"
    Store.open(url).close()
    return url


def _setting(url: str, name: str, value: str) -> None:
    with sqlite3.connect(url.split("///", 1)[1]) as conn:
        conn.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (name, f'"{value}"'))


def _read_setting(store: Store, name: str) -> object:
    with store.lookup() as conn:
        value = conn.execute(text("SELECT value FROM settings WHERE name = :n"), {"n": name}).scalar()
    return json.loads(value) if isinstance(value, str) else value


def test_a_missing_store_is_neither_kept_nor_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "mailseal.db"
    ran: list[Store] = []
    assert keep_engine(f"sqlite:///{path}", ran.append) is False
    assert not path.parent.exists() and ran == [] and kept_store_urls() == []


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///relative.db", "postgresql+psycopg://u@localhost/db",
                                 "sqlite:///{home}/mailseal.db?mode=ro"])
def test_only_an_absolute_sqlite_file_is_kept(url: str, store_file: str, tmp_path: Path) -> None:
    assert keep_engine(url.format(home=tmp_path / "home"), lambda _store: None) is False
    assert kept_store_urls() == []


def test_the_warm_up_reads_and_cannot_write(store_file: str) -> None:
    seen: list[object] = []

    def warm(store: Store) -> None:
        seen.append(schema_revision(store.engine))
        with store.session() as session:
            session.execute(text("INSERT INTO settings (name, value) VALUES ('written', '1')"))

    assert keep_engine(store_file, warm) is True
    assert seen == [database.HEAD_REVISION]  # it ran, on the store as it is
    assert kept_store_urls() == [store_file]
    with sqlite3.connect(store_file.split("///", 1)[1]) as conn:
        assert conn.execute("SELECT count(*) FROM settings WHERE name = 'written'").fetchone() == (0,)
    pool = database._kept[store_file][0].pool
    assert isinstance(pool, QueuePool) and pool.checkedin() == 0  # no connection left to cross a fork


def test_open_takes_the_kept_engine_and_reads_the_store_as_it_is_now(store_file: str) -> None:
    assert keep_engine(store_file, lambda _store: None)
    _setting(store_file, "later", "after the warm-up")
    store = Store.open(store_file)
    try:
        assert store.engine is database._kept[store_file][0]
        assert _read_setting(store, "later") == "after the warm-up"
    finally:
        store.close()
    _setting(store_file, "later still", "after a close")
    store = Store.open(store_file)
    try:
        assert _read_setting(store, "later still") == "after a close"
    finally:
        store.close()
    assert opened_store_urls() == [store_file]


def test_the_schema_is_checked_again_with_a_kept_engine(store_file: str) -> None:
    assert keep_engine(store_file, lambda _store: None)
    with sqlite3.connect(store_file.split("///", 1)[1]) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaError, match="9999"):
        Store.open(store_file)


def test_a_forked_child_opens_its_own_connections(store_file: str) -> None:
    assert keep_engine(store_file, lambda _store: None)
    _setting(store_file, "for the child", "seen")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        answer = b"failed"
        try:
            store = Store.open(store_file)
            kept = store.engine is database._kept[store_file][0]
            answer = f"{kept} {_read_setting(store, 'for the child')}".encode()
            store.close()
        finally:
            os.write(write_end, answer)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b"True seen"
    os.waitpid(pid, 0)


def test_a_file_that_is_not_a_database_fails_as_sqlalchemy_reports_it(tmp_path: Path) -> None:
    path = tmp_path / "not-a-store.db"
    path.write_bytes(b"this is not SQLite" * 100)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(DBAPIError, match="not a database"):
            schema_revision(engine)
    finally:
        engine.dispose()

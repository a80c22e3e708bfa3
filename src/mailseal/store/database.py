"""Opening the store: SQLite in the data directory by default, PostgreSQL by URL; Alembic migrations on open."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from ..config import data_dir
from ..errors import UsageError

if TYPE_CHECKING:  # the ORM is imported by the first session: a Core lookup does without it
    from sqlalchemy.orm import Session, sessionmaker

DB_URL_ENV = "MAILSEAL_DB_URL"
SQLITE_FILE = "mailseal.db"
#: How long a writer waits for another process's write lock before failing (SQLite busy timeout).
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest revision in migrations/versions (a test checks it against Alembic's own head). A store already at it
#: opens without Alembic: importing Alembic and reading its script directory cost more than most commands.
HEAD_REVISION = "0003"
# Any constant works: every node that migrates takes the same PostgreSQL advisory lock first.
_PG_MIGRATION_LOCK = 0x6D61696C
_READ_ONLY = "mailseal_read_only"


def database_url() -> str:
    """``$MAILSEAL_DB_URL``, else the SQLite file ``mailseal.db`` in the data directory (created, mode 0700)."""
    url = os.environ.get(DB_URL_ENV)
    if url:
        return url
    return f"sqlite:///{data_dir(create=True).resolve() / SQLITE_FILE}"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is turned off so that every transaction starts with
        # BEGIN IMMEDIATE: a writer takes the write lock up front, and a second process waits (busy timeout)
        # instead of failing later with "database is locked" when a read transaction tries to write.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Readers (WAL) never block writers nor each other: a plain deferred BEGIN.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the store's settings (WAL, foreign keys and busy timeout on SQLite)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, poolclass=NullPool
                               if path == ":memory:" else None)
        _sqlite_setup(engine)
        if path and path != ":memory:" and Path(path).exists():
            Path(path).chmod(0o600)
        return engine
    if url.startswith("postgresql"):
        # No pre-ping (a round trip per checkout, doubling lookup time); stale connections are recycled instead.
        return create_engine(url, pool_recycle=1800)
    raise UsageError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:///PATH or postgresql+psycopg://")


def schema_revision(engine: Engine) -> str | None:
    """The revision the database's ``alembic_version`` table records; None for a database never migrated."""
    with engine.execution_options(**{_READ_ONLY: True}).connect() as conn:
        # Asking first keeps a failed SELECT out of a PostgreSQL transaction (it would abort the transaction).
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; safe when several processes open the store at once.

    A store already at ``HEAD_REVISION`` costs one read; Alembic runs only when the revision differs (a new or
    older database), under the lock, where it checks the revision again itself."""
    if schema_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        # SQLite: BEGIN IMMEDIATE already serialises writers. PostgreSQL: an advisory lock held until commit.
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """An open store database: an engine and a session factory. ``Store.open()`` migrates first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_engine = engine.execution_options(**{_READ_ONLY: True})
        self._makers: tuple[sessionmaker[Session], sessionmaker[Session]] | None = None
        # A single SELECT needs no transaction around it: on PostgreSQL that saves the BEGIN and ROLLBACK trips.
        self._lookup_engine = (engine.execution_options(isolation_level="AUTOCOMMIT")
                               if engine.dialect.name == "postgresql" else self._read_engine)

    @classmethod
    def open(cls, url: str | None = None, *, run_migrations: bool = True) -> Store:
        engine = make_engine(url or database_url())
        if run_migrations:
            migrate(engine)
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            Path(str(engine.url.database)).chmod(0o600)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _session_makers(self) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        """The session factories for writing and for reading, made by the first session."""
        if self._makers is None:
            from sqlalchemy.orm import sessionmaker

            self._makers = (sessionmaker(self.engine, expire_on_commit=False),
                            sessionmaker(self._read_engine, expire_on_commit=False))
        return self._makers

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        with self._session_makers()[0]() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction for lookups only: on SQLite it takes no write lock, so it never waits for writers."""
        with self._session_makers()[1]() as session, session.begin():
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Connection]:
        """A Core connection for hot read paths (no ORM objects): directory lookups per recipient."""
        with self._lookup_engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["DB_URL_ENV", "HEAD_REVISION", "Store", "database_url", "make_engine", "migrate", "schema_revision"]

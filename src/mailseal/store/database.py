"""Opening the store: SQLite in the data directory by default, PostgreSQL by URL; its schema (Alembic migrations).

The migration rule (docs/operations.md): an empty database is created at the newest revision by whoever opens it
first. A database at an older revision is upgraded by ``Store.open()`` (the library and the command line, as
before) but refused by the gateway (``open_service_store``) unless ``[store] auto_migrate = true`` or ``mailseal
serve --migrate``: an upgrade of a shared database is an administrator's step (``mailseal store upgrade``), after a
backup. A database at a revision this code does not know (a newer mailseal upgraded it) is refused by everyone.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool, QueuePool

from ..config import data_dir
from ..errors import ConfigurationError, ErrorCode, MailsealError, TemporaryError

if TYPE_CHECKING:  # the ORM is imported by the first session: a Core lookup does without it
    from sqlalchemy.orm import Session, sessionmaker

DB_URL_ENV = "MAILSEAL_DB_URL"
SQLITE_FILE = "mailseal.db"
#: How long a writer waits for another process's write lock before failing (SQLite busy timeout).
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest revision in migrations/versions (a test checks it against Alembic's own head). A store already at it
#: opens without Alembic: importing Alembic and reading its script directory cost more than most commands.
HEAD_REVISION = "0010"
# Any constant works: every node that migrates takes the same PostgreSQL advisory lock first.
_PG_MIGRATION_LOCK = 0x6D61696C
_READ_ONLY = "mailseal_read_only"
#: Seconds a new PostgreSQL connection may take (libpq connect_timeout).
CONNECT_TIMEOUT = 5
#: Milliseconds sent data may stay unacknowledged before a PostgreSQL connection is given up (libpq
#: tcp_user_timeout, Linux TCP_USER_TIMEOUT).
TCP_USER_TIMEOUT_MS = 10_000
_SQLITE_HAS_VERSION_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
_VERSIONS = "SELECT version_num FROM alembic_version"


class SchemaError(MailsealError):
    """The store database's schema is not at the revision this mailseal needs (older, or newer than it knows)."""

    code = ErrorCode.SCHEMA_MISMATCH


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
        # A server that does not answer at all (a cut network) fails a connection after CONNECT_TIMEOUT seconds
        # rather than the operating system's minutes: the message gets a 4xx and the node's /readyz says so.
        # An established connection whose server went silent (the same cable) fails once data sent is not
        # acknowledged within TCP_USER_TIMEOUT_MS, and an idle one is probed by TCP keepalives: a query never
        # hangs for the operating system's quarter of an hour. Options in the URL win.
        defaults = {"connect_timeout": CONNECT_TIMEOUT, "tcp_user_timeout": TCP_USER_TIMEOUT_MS, "keepalives": 1,
                    "keepalives_idle": 30, "keepalives_interval": 5, "keepalives_count": 3}
        connect = {k: v for k, v in defaults.items() if f"{k}=" not in url}
        return create_engine(url, pool_recycle=1800, connect_args=connect)
    raise ConfigurationError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:///PATH or "
                             "postgresql+psycopg://")


def schema_revision(engine: Engine) -> str | None:
    """The revision the database's ``alembic_version`` table records; None for a database never migrated."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            versions = _sqlite_versions(conn)
        return versions[0] if versions is not None and len(versions) == 1 else None
    with engine.execution_options(**{_READ_ONLY: True}).connect() as conn:
        # Asking first keeps a failed SELECT out of a PostgreSQL transaction (it would abort the transaction).
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = list(conn.execute(text(_VERSIONS)).scalars())
    return versions[0] if len(versions) == 1 else None


def _sqlite_versions(conn: Connection) -> list[str] | None:
    # Every store command asks this first, so it goes straight to the driver: two statements, each its own read
    # (the driver opens no transaction, see _sqlite_setup), cost a tenth of SQLAlchemy's inspector and execution.
    raw: sqlite3.Connection | None = conn.connection.driver_connection
    assert raw is not None  # an open connection always has its driver's
    try:
        if raw.execute(_SQLITE_HAS_VERSION_TABLE).fetchone() is None:
            return None
        return [str(row[0]) for row in raw.execute(_VERSIONS)]
    except sqlite3.Error as exc:  # as SQLAlchemy would have raised it
        raise DBAPIError.instance(_VERSIONS, None, exc, sqlite3.Error) from None


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def known_revisions() -> tuple[str, ...]:
    """Every revision of this code's migrations, oldest first (reads the migration scripts: not on a hot path)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config())
    return tuple(reversed([s.revision for s in scripts.walk_revisions()]))


@dataclass(frozen=True)
class SchemaState:
    """Where a store database's schema stands against this code's migrations."""

    current: str | None  # the revision in alembic_version; None for a database never migrated (empty)
    head: str = HEAD_REVISION

    @property
    def state(self) -> str:
        """``current`` (at head), ``empty`` (never migrated), ``behind`` (an older revision this code can upgrade)
        or ``ahead`` (a revision this code does not know: a newer mailseal wrote it)."""
        if self.current == self.head:
            return "current"
        if self.current is None:
            return "empty"
        return "behind" if self.current in known_revisions() else "ahead"

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.current, "head": self.head, "state": self.state}


def schema_state(engine: Engine) -> SchemaState:
    return SchemaState(schema_revision(engine))


def _refuse_newer(state: SchemaState) -> None:
    if state.state == "ahead":
        raise SchemaError(f"the store's schema is at revision {state.current}, which this mailseal does not know "
                          f"(its newest is {state.head}): a newer mailseal upgraded it; run that version here too")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default); safe when several processes open the store at once.

    A store already at ``HEAD_REVISION`` costs one read; Alembic runs only when the revision differs (a new or
    older database), under the lock, where it checks the revision again itself. A schema newer than this code
    raises ``SchemaError``."""
    current = schema_revision(engine)
    if current == HEAD_REVISION and revision in ("head", HEAD_REVISION):
        return
    _refuse_newer(SchemaState(current))
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        # SQLite: BEGIN IMMEDIATE already serialises writers. PostgreSQL: an advisory lock held until commit.
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ensure_schema(engine: Engine, *, upgrade: bool) -> None:
    """Make the schema usable by this code: at head, nothing; empty, created at head; older, upgraded only when
    ``upgrade`` (else ``SchemaError`` naming `mailseal store upgrade`); newer than this code, ``SchemaError``."""
    current = schema_revision(engine)
    if current == HEAD_REVISION:
        return
    state = SchemaState(current)
    _refuse_newer(state)
    if state.state == "behind" and not upgrade:
        raise SchemaError(f"the store's schema is at revision {current} and this mailseal needs {HEAD_REVISION}: "
                          "back it up, then run `mailseal store upgrade` (or start with `mailseal serve --migrate`)")
    migrate(engine)


#: The ``[store]`` settings table: ``auto_migrate = true`` lets the gateway upgrade an older schema at start;
#: ``startup_wait_seconds`` is how long `mailseal serve` waits for a database that does not answer at start.
STORE_SETTINGS = ("auto_migrate", "startup_wait_seconds")
#: The default of ``[store] startup_wait_seconds``.
STARTUP_WAIT_SECONDS = 120


def _store_table(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    table = settings.get("store", {})
    if not isinstance(table, Mapping):
        raise ConfigurationError("[store] must be a table")
    unknown = sorted(set(table) - set(STORE_SETTINGS))
    if unknown:
        raise ConfigurationError(f"unknown setting store.{unknown[0]} (known: {', '.join(STORE_SETTINGS)})")
    return table


def auto_migrate(settings: Mapping[str, Any]) -> bool:
    """``[store] auto_migrate`` of the settings (false when absent); unknown keys and non-booleans are refused."""
    value = _store_table(settings).get("auto_migrate", False)
    if not isinstance(value, bool):
        raise ConfigurationError("store.auto_migrate must be true or false")
    return value


def startup_wait(settings: Mapping[str, Any]) -> float:
    """``[store] startup_wait_seconds``: how long the gateway waits at start for a store database that does not
    answer (0: not at all), default ``STARTUP_WAIT_SECONDS``."""
    value = _store_table(settings).get("startup_wait_seconds", STARTUP_WAIT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError("store.startup_wait_seconds must be a number of seconds, 0 or more")
    return float(value)


def open_service_store(settings: Mapping[str, Any], url: str | None = None) -> Store:
    """The store as the gateway opens it: an empty database is created, an older schema is refused
    (``SchemaError``) unless ``[store] auto_migrate = true``, a newer one always."""
    return Store.open(url, upgrade=auto_migrate(settings))


def upgrade_schema(url: str | None = None) -> tuple[SchemaState, SchemaState]:
    """`mailseal store upgrade`: bring the store at ``url`` (default: ``database_url()``) to head, creating it when
    empty; returns the state before and after. A schema newer than this code raises ``SchemaError``."""
    engine = make_engine(url or database_url())
    try:
        before = schema_state(engine)
        ensure_schema(engine, upgrade=True)
        return before, schema_state(engine)
    finally:
        engine.dispose()


def inspect_schema(url: str) -> SchemaState:
    """The schema state of the database at ``url``, without changing it."""
    engine = make_engine(url)
    try:
        return schema_state(engine)
    finally:
        engine.dispose()


def pending_revisions(state: SchemaState) -> tuple[str, ...]:
    """The migrations an upgrade from ``state`` would run, oldest first (all of them for an empty database)."""
    revisions = known_revisions()
    if state.current is None:
        return revisions
    if state.current not in revisions:
        return ()
    return revisions[revisions.index(state.current) + 1:]


def display_url(url: str) -> str:
    """The URL as messages show it: a password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def not_created_yet(url: str) -> bool:
    """True when `url` names a SQLite file that does not exist: opening it would create a new, empty store."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database is not None and parsed.database != "" \
        and not Path(parsed.database).exists()


def existing_database_url() -> str | None:
    """``$MAILSEAL_DB_URL``, else the URL of ``mailseal.db`` in the data directory when that file exists; None
    otherwise (nothing is created: for commands that only look)."""
    url = os.environ.get(DB_URL_ENV)
    if url:
        return url
    path = data_dir() / SQLITE_FILE
    return f"sqlite:///{path.resolve()}" if path.is_file() else None


#: SQLite's result codes for a lock held by another connection past the busy timeout: the next try may get it.
_SQLITE_RETRYABLE = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


def unavailable(exc: DBAPIError) -> bool:
    """Whether ``exc`` is a failure that may pass by itself: a connection the server closed or refused, a server
    shutting down, a lock or serialization conflict (PostgreSQL's OperationalError: SQLSTATE classes 08, 40, 53,
    55, 57), or a SQLite lock held past the busy timeout. A missing table or a constraint is not: retrying
    cannot mend those."""
    if exc.connection_invalidated:
        return True
    sqlite_name = getattr(exc.orig, "sqlite_errorname", None)
    if sqlite_name is not None:
        return str(sqlite_name) in _SQLITE_RETRYABLE
    return isinstance(exc, OperationalError)


@contextmanager
def _unavailable_is_temporary() -> Iterator[None]:
    """Turn a database that did not answer into a ``TemporaryError`` (``temporary-failure``: the gateway answers
    4xx); every other database error passes as it is."""
    try:
        yield
    except DBAPIError as exc:
        if not unavailable(exc):
            raise
        detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise TemporaryError(f"the store database did not answer ({detail}): try again later") from exc


# -- engines made once by a process that forks (the resident agent, cli/agent.py) ---------------------------------

#: SQLite store URL -> an engine a long-lived parent made and warmed (dialect set up, the hot statements compiled)
#: for the children it forks. Only the engine crosses the fork, never a connection: the parent's pool is emptied
#: after the warm-up, and each child opens its own connections and checks the schema itself, so it sees the
#: database as it is when the child runs.
_kept: dict[str, tuple[Engine, int]] = {}
#: The SQLite store URLs ``Store.open`` opened in this process, each once (a forked command reports them to its
#: parent); a set, so that a long-lived process opening its store again and again does not grow it.
_opened: dict[str, None] = {}
_MAX_KEPT = 8


def _sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite file URL; None for another database, an in-memory or a relative one (a
    relative path names a different file in a child that changed folder)."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = Path(url.split("///", 1)[1])
    return path if path.is_absolute() else None


def opened_store_urls() -> list[str]:
    """The SQLite store URLs this process opened with ``Store.open``, oldest first, without repeats."""
    return list(_opened)


def kept_store_urls() -> list[str]:
    """The SQLite store URLs this process keeps an engine for (``keep_engine``), oldest first."""
    return list(_kept)


def keep_engine(url: str, warm: Callable[[Store], object]) -> bool:
    """For a process that forks a child per command: make an engine for the existing SQLite store at ``url``, run
    ``warm`` with it (lookups, so that SQLAlchemy compiles their statements once, here), close its connections and
    keep it for ``Store.open`` in the children forked later. The warm-up opens the file read-only: it never
    creates nor changes the database. False (and nothing kept) when ``url`` is not an existing SQLite file."""
    path = _sqlite_file(url)
    if url in _kept or path is None or not path.is_file():
        return url in _kept
    engine = make_engine(url)

    def read_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[0], cparams["uri"] = f"{path.as_uri()}?mode=ro", True

    event.listen(engine, "do_connect", read_only)
    try:
        store = Store(engine)
        if schema_revision(engine) == HEAD_REVISION:
            warm(store)
    except (DBAPIError, MailsealError):
        pass  # only a head start: the child opens and checks the store itself
    finally:
        event.remove(engine, "do_connect", read_only)
        engine.dispose()  # no connection may cross a fork
    while len(_kept) >= _MAX_KEPT:
        _kept.pop(next(iter(_kept)))[0].dispose()
    _kept[url] = (engine, os.getpid())
    return True


def _pooled(engine: Engine) -> bool:
    pool = engine.pool
    return not isinstance(pool, QueuePool) or pool.checkedin() + pool.checkedout() > 0


def _kept_engine(url: str) -> Engine | None:
    kept = _kept.get(url)
    if kept is None:
        return None
    engine, maker = kept
    if maker != os.getpid() and _pooled(engine):
        # keep_engine leaves the pool empty; should a connection be there all the same, a forked child takes a
        # pool of its own and leaves the parent's connections alone (SQLAlchemy's recipe for engines and fork).
        engine.dispose(close=False)
        _kept[url] = (engine, os.getpid())
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return engine


class Store:
    """An open store database: an engine and a session factory. ``Store.open()`` migrates first.

    A database that does not answer (``unavailable``) raises ``TemporaryError`` from a session or lookup."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_engine = engine.execution_options(**{_READ_ONLY: True})
        self._makers: tuple[sessionmaker[Session], sessionmaker[Session]] | None = None
        # A single SELECT needs no transaction around it: on PostgreSQL that saves the BEGIN and ROLLBACK trips.
        self._lookup_engine = (engine.execution_options(isolation_level="AUTOCOMMIT")
                               if engine.dialect.name == "postgresql" else self._read_engine)

    @classmethod
    def open(cls, url: str | None = None, *, run_migrations: bool = True, upgrade: bool = True) -> Store:
        """Open the store at ``url`` (default: ``database_url()``). With ``run_migrations`` its schema is made
        usable (``ensure_schema``): created when empty, upgraded when older only if ``upgrade``."""
        url = url or database_url()
        engine = _kept_engine(url) or make_engine(url)
        if _sqlite_file(url) is not None:
            _opened[url] = None
        if run_migrations:
            try:
                with _unavailable_is_temporary():  # a server down is TemporaryError, as for every other query
                    ensure_schema(engine, upgrade=upgrade)
            except BaseException:
                engine.dispose()
                raise
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
        with _unavailable_is_temporary(), self._session_makers()[0]() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction for lookups only: on SQLite it takes no write lock, so it never waits for writers."""
        with _unavailable_is_temporary(), self._session_makers()[1]() as session, session.begin():
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Connection]:
        """A Core connection for hot read paths (no ORM objects): directory lookups per recipient."""
        with _unavailable_is_temporary(), self._lookup_engine.connect() as conn:
            yield conn

    def ping(self) -> None:
        """One trivial query: returns when the database answers, raises ``TemporaryError`` when it does not
        (a readiness probe's question)."""
        with self.lookup() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["DB_URL_ENV", "HEAD_REVISION", "STORE_SETTINGS", "SchemaError", "SchemaState", "Store", "auto_migrate",
           "database_url", "display_url", "ensure_schema", "existing_database_url", "inspect_schema", "keep_engine",
           "kept_store_urls", "known_revisions", "make_engine", "migrate", "open_service_store", "opened_store_urls",
           "pending_revisions", "schema_revision", "schema_state", "startup_wait", "unavailable", "upgrade_schema"]

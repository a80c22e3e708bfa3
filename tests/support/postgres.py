"""A PostgreSQL server for tests: ``$MAILSEAL_TEST_PG_URL``, else a throwaway cluster started here, else skip.

The throwaway cluster needs only the Debian ``postgresql`` binaries (no system service): ``initdb`` into a temporary
directory, ``pg_ctl start`` on 127.0.0.1 and a free port, ``pg_ctl stop`` at the end. As root the binaries run as
the ``postgres`` user (PostgreSQL refuses to run as root). With ``MAILSEAL_REQUIRE_PEERS=1`` a missing server fails
the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

PG_URL_ENV = "MAILSEAL_TEST_PG_URL"


def _unavailable(reason: str) -> None:
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"PostgreSQL required (MAILSEAL_REQUIRE_PEERS=1) but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """initdb + pg_ctl in a temporary directory; trust authentication on 127.0.0.1 only.

    ``host`` and ``prefix`` put the server elsewhere: it listens on ``host`` (with ``port``) and every command runs
    behind ``prefix``, e.g. ``ip netns exec NAME`` for a host of tests/support/netns.py; ``clients`` is then the
    network (CIDR) whose clients are trusted too. ``halt()`` and ``resume()`` stop and start the same cluster."""

    def __init__(self, bindir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 prefix: Sequence[str] = (), clients: str | None = None) -> None:
        self.bindir = bindir
        self.host = host
        self.prefix = list(prefix)
        self.clients = clients
        self.root = Path(tempfile.mkdtemp(prefix="mailseal-pg-"))
        self.data = self.root / "data"
        self.port = _free_port() if port is None else port
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run([*self.prefix, *cmd], capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> str:
        res = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        if res.returncode:
            raise RuntimeError(f"initdb failed: {res.stderr.strip()[-400:]}")
        if self.clients is not None:
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.clients} trust\n")
        self.resume()
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/postgres"

    def resume(self) -> None:
        """Start the server (again) on the cluster's data."""
        opts = f"-h {self.host} -p {self.port} -k {self.root} -F -c fsync=off -c full_page_writes=off"
        res = self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "-t", "60",
                        "start")
        if res.returncode:
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()[-400:]}")

    def halt(self) -> None:
        """Stop the server at once (clients are disconnected), keeping the data for ``resume()``."""
        res = self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        if res.returncode:
            raise RuntimeError(f"pg_ctl stop failed: {res.stderr.strip()[-400:]}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL of a PostgreSQL server whose ``postgres`` database the tests may create databases from."""
    given = os.environ.get(PG_URL_ENV)
    if given:
        yield given
        return
    bindir = _bindir()
    if bindir is None:
        _unavailable("no initdb/pg_ctl found (install Debian postgresql) and MAILSEAL_TEST_PG_URL is not set")
    assert bindir is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable("running as root without runuser to start PostgreSQL as the postgres user")
    cluster = ThrowawayCluster(bindir)
    try:
        url = cluster.start()
    except Exception as exc:
        cluster.stop()
        _unavailable(str(exc))
        raise
    try:
        yield url
    finally:
        cluster.stop()


def fresh_database(server_url: str) -> tuple[str, str]:
    """Create an empty database on the server; returns (its URL, its name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = "t_" + uuid.uuid4().hex[:16]
    base = make_url(server_url)
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_database(server_url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(_libpq(make_url(server_url)), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: object) -> str:
    from sqlalchemy.engine import URL

    assert isinstance(url, URL)
    parts = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
             "dbname": url.database}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)


__all__ = ["PG_URL_ENV", "ThrowawayCluster", "drop_database", "fresh_database", "postgres_url"]

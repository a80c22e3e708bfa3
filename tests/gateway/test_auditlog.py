"""The gateway's audit writer while the store database does not answer (issue 19): at most
``gateway.audit_queue_limit`` records (plus the batch being tried) wait in memory, the rest in a journal in the
spool, replayed in order into the store when it answers again, or at the next start when the writer was closed
before. Against a real PostgreSQL, stopped and started again (tests/support/postgres.py's ThrowawayCluster).

A naive writer keeps every record in memory while the database is down (a long outage under load grows without
bound), or loses them when the gateway stops before the database is back.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailseal.gateway.auditlog import BATCH, PENDING, REPLAYING, AuditJournal, AuditWriter, JournalBusy, claim
from mailseal.store import audit
from mailseal.store.database import Store
from tests.support.postgres import ThrowawayCluster, _bindir, _unavailable

ACTION = "gateway.message"
LIMIT = 50


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    bindir = _bindir()
    if bindir is None:
        _unavailable("no initdb/pg_ctl found (install Debian postgresql)")
    assert bindir is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable("running as root without runuser to start PostgreSQL as the postgres user")
    pg = ThrowawayCluster(bindir)
    try:
        pg.url = pg.start()  # type: ignore[attr-defined]
    except Exception as exc:
        pg.stop()
        _unavailable(str(exc))
    yield pg
    pg.stop()


@pytest.fixture
def store(cluster: ThrowawayCluster) -> Iterator[Store]:
    opened = Store.open(cluster.url)  # type: ignore[attr-defined]
    try:
        yield opened
    finally:
        opened.close()


def _flushed(writer: AuditWriter, seconds: float = 60.0) -> None:
    """``flush()`` in a thread, so that a writer that never finishes fails the test instead of hanging it."""
    done = threading.Thread(target=writer.flush, daemon=True)
    done.start()
    done.join(seconds)
    assert not done.is_alive(), f"the audit writer did not finish: {writer.waiting}"


def _subjects(store: Store, prefix: str) -> list[str]:
    return [e.subject for e in audit.events(store, action=ACTION) if e.subject.startswith(prefix)]


def _journal_lines(directory: Path) -> int:
    return sum(len((directory / name).read_bytes().splitlines()) for name in (PENDING, REPLAYING)
               if (directory / name).exists())


def test_outage_spills_past_the_limit_and_replays_in_order(cluster: ThrowawayCluster, store: Store, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mailseal.gateway")
    writer = AuditWriter(store, tmp_path / "audit", max_queued=LIMIT)
    subjects = [f"<outage-{i:04d}@example.org>" for i in range(1000)]
    before = datetime.now(UTC)
    cluster.halt()
    try:
        for subject in subjects:
            writer.submit(ACTION, subject, {"result": "accepted"})
        memory, disk = writer.waiting
        assert memory + disk == len(subjects)
        assert memory <= LIMIT + BATCH and disk >= len(subjects) - LIMIT - BATCH
        assert _journal_lines(tmp_path / "audit") == disk  # on disk as JSON lines, one a record
        assert any("audit_queue_limit" in r.getMessage() and str(tmp_path / "audit") in r.getMessage()
                   for r in caplog.records)
    finally:
        resumed = datetime.now(UTC)
        cluster.resume()
    _flushed(writer)
    assert _subjects(store, "<outage-") == subjects  # every record once, in the order submitted
    events = [e for e in audit.events(store, action=ACTION) if e.subject.startswith("<outage-")]
    # each keeps the time it happened (during the outage), not the time it was written (after it)
    assert all(before <= e.time <= resumed for e in events)
    assert writer.waiting == (0, 0) and not (tmp_path / "audit" / PENDING).exists()
    assert not (tmp_path / "audit" / REPLAYING).exists()
    assert any("replaying" in r.getMessage() for r in caplog.records)
    writer.close()


def test_closed_during_an_outage_the_next_start_replays(cluster: ThrowawayCluster, store: Store, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The gateway stops while the database is down: what waited in memory goes to the journal (before what was
    already there), and the next writer replays it all before anything new."""
    directory = tmp_path / "audit"
    first = AuditWriter(store, directory, max_queued=10)
    subjects = [f"<closed-{i:03d}@example.org>" for i in range(100)]
    cluster.halt()
    try:
        for subject in subjects:
            first.submit(ACTION, subject, {})
        first.close(timeout=1.0)
        assert _journal_lines(directory) == len(subjects)
        assert any("replayed at the next start" in r.getMessage() for r in caplog.records)
    finally:
        cluster.resume()
    assert _subjects(store, "<closed-") == []
    second = AuditWriter(store, directory, max_queued=10)
    second.submit(ACTION, "<closed-new@example.org>", {})
    _flushed(second)
    assert _subjects(store, "<closed-") == [*subjects, "<closed-new@example.org>"]
    assert not (directory / REPLAYING).exists() and not (directory / PENDING).exists()
    second.close()


def test_a_line_cut_by_a_crash_is_skipped_alone(tmp_path: Path) -> None:
    """A crash mid-write leaves half a line at the end of the journal: the next record is not glued to it."""
    directory = tmp_path / "audit"
    journal = AuditJournal(directory)
    at = datetime.now(UTC)
    journal.append([("a", "<one>", {}, "gateway", at), ("a", "<two>", {}, "gateway", at)], sync=True)
    journal.close()
    with (directory / PENDING).open("ab") as f:
        f.write(b'{"action":"a","subj')
    again = AuditJournal(directory)
    again.append([("a", "<three>", {"k": [1, 2]}, "gateway", at)], sync=True)
    assert again.start_replay()
    found = [r for batch, _ in again.batches() for r in batch]
    assert [(r[1], r[2], r[4]) for r in found] == [("<one>", {}, at), ("<two>", {}, at),
                                                   ("<three>", {"k": [1, 2]}, at)]
    assert (os.stat(directory / REPLAYING).st_mode & 0o777) == 0o600


def test_the_limit_is_a_gateway_setting() -> None:
    from mailseal.errors import ConfigurationError
    from mailseal.gateway.settings import GatewaySettings

    base = {"next_hop": "127.0.0.1:2526"}
    assert GatewaySettings.from_settings({"gateway": base}).audit_queue_limit == 100_000
    assert GatewaySettings.from_settings({"gateway": {**base, "audit_queue_limit": 500}}).audit_queue_limit == 500
    for wrong in (0, -1, 1.5, True, "many"):
        with pytest.raises(ConfigurationError, match=r"gateway\.audit_queue_limit"):
            GatewaySettings.from_settings({"gateway": {**base, "audit_queue_limit": wrong}})


def test_each_front_end_process_claims_its_own_journal_and_a_successor_takes_it_over(store: Store,
                                                                                    tmp_path: Path) -> None:
    """Several front-end processes share one spool (gateway.processes): two writers appending to and replaying one
    journal would write records twice. Each claims a folder no living process holds; a naive writer takes
    ``audit`` in every process."""
    base = tmp_path / "audit"
    holder = subprocess.Popen(  # another process, as a second front-end: it holds ``audit`` until told to stop
        [sys.executable, "-c", "import sys; from pathlib import Path; from mailseal.gateway.auditlog import "
         "AuditJournal; j = AuditJournal(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()",
         str(base)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(JournalBusy):
            AuditJournal(base)
        first = claim(store, base, max_queued=LIMIT)
        second = claim(store, base, max_queued=LIMIT)
        assert first.journal is not None and second.journal is not None
        assert (first.journal.directory, second.journal.directory) == (base / "frontend-1", base / "frontend-2")
        first.submit(ACTION, "<claimed-1@example.org>", {})
        _flushed(first)
        first.close()
        again = claim(store, base, max_queued=LIMIT)  # a restarted front-end takes the folder of the one gone
        assert again.journal is not None and again.journal.directory == base / "frontend-1"
        again.close()
        second.close()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    last = claim(store, base)
    last.close()
    assert last.journal is not None and last.journal.directory == base  # the holder's lock went with it
    assert _subjects(store, "<claimed-") == ["<claimed-1@example.org>"]

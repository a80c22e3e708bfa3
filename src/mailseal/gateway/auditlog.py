"""Audit records of the gateway's messages, written in batches by one background thread: one database
transaction per batch instead of one per message, and never on the event loop. ``close()`` writes what is left.

A store database that does not answer (PostgreSQL restarting, docs/cluster.md) holds the records back: the batch is
tried again, with pauses growing to ``MAX_RETRY_SECONDS``. Up to ``gateway.audit_queue_limit`` records wait in
memory; past it they wait on disk in a journal in the spool (``audit/pending.jsonl``: JSON lines, appended and
flushed at once, fsynced every ``FSYNC_EVERY`` records and at each retry), replayed in order into the store when it answers again,
and at the next start when the gateway stopped before that. So memory stays bounded and no record is lost.

Once records go to the journal, every later one does too until the journal is replayed: the store receives them in
the order they happened. A record keeps the time it happened (``audit.record(at=...)``), however late it is
written. Replay reads the journal in batches and records, after each batch the store took, how far it got
(``replaying.offset``): a gateway that stops mid-replay starts again after the last batch written, so a batch can
be written twice only if the process dies between the store's commit and that note.

A journal folder belongs to one process at a time (an exclusive ``flock`` on its ``.lock`` file, held while the
process lives): with several front-end processes (``gateway.processes``) each claims its own (``audit``, then
``audit/frontend-1``, ...; ``claim``), and a restarted front-end takes over, and replays, the folder of the one that
died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import shutil
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..errors import TemporaryError
from ..store import audit
from ..store.database import Store

log = logging.getLogger("mailseal.gateway")

Record = tuple[str, str, dict[str, Any], str, datetime]  # action, subject, detail, actor, when it happened
BATCH = 200
MAX_RETRY_SECONDS = 10.0
DEFAULT_QUEUE_LIMIT = 100_000
FSYNC_EVERY = 256  # journal lines between two fsyncs (and at every retry of the database, and at close)
PENDING = "pending.jsonl"  # appended to while records spill
REPLAYING = "replaying.jsonl"  # the pending journal, renamed when its replay starts
OFFSET = "replaying.offset"  # bytes of REPLAYING already in the store


def _line(record: Record) -> bytes:
    action, subject, detail, actor, at = record
    return json.dumps({"action": action, "subject": subject, "detail": detail, "actor": actor,
                       "time": at.isoformat()}, separators=(",", ":"), default=str).encode() + b"\n"


def _record(line: bytes) -> Record | None:
    try:
        data = json.loads(line)
        return (str(data["action"]), str(data["subject"]), dict(data["detail"]), str(data["actor"]),
                datetime.fromisoformat(data["time"]))
    except (ValueError, KeyError, TypeError):
        return None  # a line cut short by a crash mid-write: nothing to replay


class JournalBusy(Exception):
    """Another living process holds this journal folder."""


class AuditJournal:
    """The records waiting on disk: ``PENDING`` appended to by ``append`` (any thread), ``REPLAYING`` read back by
    the writer thread. Raises JournalBusy when another process holds the folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._owner = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._owner)
            raise JournalBusy(f"{directory} is another process's audit journal") from None
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._unsynced = 0
        self._end_cut_line()
        self.count = sum(self._lines(directory / name) for name in (PENDING, REPLAYING)) - self._replayed_lines()

    @property
    def pending(self) -> Path:
        return self.directory / PENDING

    def _end_cut_line(self) -> None:
        """A line cut short by a crash mid-write is ended, so that the next record is not glued to it (the cut
        line is then skipped alone)."""
        if self.pending.exists() and self.pending.stat().st_size:
            with self.pending.open("rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    @staticmethod
    def _lines(path: Path) -> int:
        if not path.exists():
            return 0
        with path.open("rb") as f:
            return sum(1 for _ in f)

    def _replayed_lines(self) -> int:
        offset = self._offset()
        if not offset:
            return 0
        with (self.directory / REPLAYING).open("rb") as f:
            return f.read(offset).count(b"\n")

    def _offset(self) -> int:
        try:
            return int((self.directory / OFFSET).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def append(self, records: Sequence[Record], *, sync: bool = False) -> None:
        with self._lock:
            self._append_locked(records)
            if sync or self._unsynced >= FSYNC_EVERY:
                self._sync_locked()

    def _append_locked(self, records: Sequence[Record]) -> None:
        if self._file is None:
            fd = os.open(self.pending, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "ab")
        self._file.write(b"".join(_line(r) for r in records))
        self._file.flush()  # in the kernel at once: a process that dies loses none (fsync: every FSYNC_EVERY)
        self.count += len(records)
        self._unsynced += len(records)

    def sync(self) -> None:
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        if self._file is not None and self._unsynced:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._unsynced = 0

    def close(self) -> None:
        with self._lock:
            self._sync_locked()
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._owner >= 0:
                os.close(self._owner)  # the flock goes with it
                self._owner = -1

    def put_first(self, records: Sequence[Record]) -> None:
        """``records`` (older than everything in the journal) written before the pending ones, durably: what a
        writer that gives up held in memory, for the next start to replay in order."""
        with self._lock:
            replaying = self.directory / REPLAYING
            if replaying.exists():  # a replay under way took every older record already: the rest is newer
                self._append_locked(records)
                self._sync_locked()
                return
            if self._file is not None:
                self._sync_locked()
                self._file.close()
                self._file = None
            tmp = self.directory / "replaying.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(b"".join(_line(r) for r in records))
                if self.pending.exists():
                    with self.pending.open("rb") as pending:
                        shutil.copyfileobj(pending, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, replaying)
            with contextlib.suppress(FileNotFoundError):
                self.pending.unlink()
            self.count += len(records)

    def start_replay(self) -> bool:
        """Make the pending journal the one to replay (unless a replay is already under way); False when there is
        nothing to replay."""
        replaying = self.directory / REPLAYING
        with self._lock:
            if replaying.exists():
                return True
            if self._file is not None:
                self._sync_locked()
                self._file.close()
                self._file = None
            if not self.pending.exists():
                return False
            os.replace(self.pending, replaying)
            return True

    def batches(self) -> Iterator[tuple[list[Record], int]]:
        """The records of the journal being replayed, ``BATCH`` at a time from where the last replay stopped, each
        with the offset just after it. A line cut short (a crash mid-write) or unreadable is skipped."""
        with (self.directory / REPLAYING).open("rb") as f:
            end = self._offset()
            f.seek(end)
            batch: list[Record] = []
            while (line := f.readline()).endswith(b"\n"):
                end += len(line)
                if (found := _record(line)) is not None:
                    batch.append(found)
                if len(batch) >= BATCH:
                    yield batch, end
                    batch = []
            yield batch, end

    def replayed(self, offset: int, count: int) -> None:
        """``count`` records up to ``offset`` are in the store: noted durably before the next batch."""
        path = self.directory / OFFSET
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(str(offset))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with self._lock:
            self.count -= count

    def finish_replay(self) -> bool:
        """The journal being replayed is all in the store: remove it. True when nothing else waits on disk."""
        with contextlib.suppress(FileNotFoundError):
            (self.directory / REPLAYING).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.directory / OFFSET).unlink()
        with self._lock:
            return not self.pending.exists()


class AuditWriter:
    def __init__(self, store: Store, journal_dir: Path | None = None, *,
                 max_queued: int = DEFAULT_QUEUE_LIMIT) -> None:
        """``journal_dir`` (in the spool): where records wait past ``max_queued`` in memory; None keeps them all
        in memory (library use, tests of the writer alone)."""
        self.store = store
        self.max_queued = max_queued
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=max_queued if journal_dir is not None else 0)
        self._lock = threading.Lock()
        self.journal = AuditJournal(journal_dir) if journal_dir is not None else None
        # Records go to the journal from the moment the queue is full until the journal is replayed (and from the
        # start while records of an earlier run wait there), so that the store receives them in order.
        self._spilling = self.journal is not None and (self.journal.count > 0 or
                                                       (self.journal.directory / REPLAYING).exists())
        self._stopping = threading.Event()
        self._giving_up = threading.Event()
        self._idle = threading.Condition(self._lock)
        if self.journal is not None and self._spilling:
            log.warning("%d audit records of an earlier run wait in %s: replayed into the store",
                        self.journal.count, self.journal.directory)
        self._thread = threading.Thread(target=self._run, name="mailseal-audit", daemon=True)
        self._thread.start()

    def submit(self, action: str, subject: str, detail: dict[str, Any], actor: str = "gateway") -> None:
        record: Record = (action, subject, detail, actor, datetime.now(UTC))
        with self._lock:
            if not self._spilling:
                try:
                    self._queue.put_nowait(record)
                    return
                except queue.Full:
                    assert self.journal is not None  # an unbounded queue is never full
                    self._spilling = True
                    log.warning("%d audit records wait in memory for the store database (gateway.audit_queue_limit):"
                                " the next ones wait in %s", self._queue.qsize(), self.journal.pending)
            assert self.journal is not None
            self.journal.append([record])

    @property
    def waiting(self) -> tuple[int, int]:
        """Records waiting: in memory, and in the journal on disk."""
        return self._queue.unfinished_tasks, self.journal.count if self.journal is not None else 0

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                if not self._write(batch):
                    self._spill_all(batch)
                    return
                self._done(len(batch))
                continue
            if self._spilling and not self._replay():
                self._spill_all([])
                return
            if self._stopping.is_set() and self._queue.empty() and not self._spilling:
                return

    def _take(self) -> list[Record]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _done(self, count: int) -> None:
        for _ in range(count):
            self._queue.task_done()  # counted by unfinished_tasks from put to here: what flush() waits for
        with self._lock:
            self._idle.notify_all()

    def _replay(self) -> bool:
        """The journal into the store, in order, while new records keep going to it; spilling stops when it is
        empty. False when the writer gives up (closed while the database does not answer)."""
        journal = self.journal
        assert journal is not None
        while True:
            with self._lock:  # checked and ended under the lock submit() takes: no record can slip in between
                if not journal.start_replay():
                    self._spilling = False
                    self._idle.notify_all()
                    return True
            log.info("replaying %d audit records from %s into the store", journal.count, journal.directory)
            for records, offset in journal.batches():
                if records and not self._write(records):
                    return False
                journal.replayed(offset, len(records))
            with self._lock:
                if journal.finish_replay():
                    self._spilling = False
                    self._idle.notify_all()
                    return True

    def _spill_all(self, batch: list[Record]) -> None:
        """Given up (closed while the database does not answer): what is in memory goes to the journal, after what
        is already there, for the next start to replay."""
        rest: list[Record] = []
        while True:
            try:
                rest.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if self.journal is None:
            log.error("%d audit records not written: the store database did not answer", len(batch) + len(rest))
            return
        if batch or rest:
            self.journal.put_first([*batch, *rest])
        self.journal.close()
        log.error("%d audit records wait in %s for the store database: replayed at the next start",
                  self.journal.count, self.journal.directory)

    def _write(self, batch: list[Record]) -> bool:
        """The batch in one transaction, tried again while the database does not answer; False when given up."""
        pause = 0.5
        while True:
            try:
                with self.store.session() as session:
                    for action, subject, detail, actor, at in batch:
                        audit.record(session, action, subject, detail, actor, at=at)
                return True
            except TemporaryError as exc:
                if self.journal is not None:
                    self.journal.sync()
                if self._giving_up.is_set():
                    return False
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                memory, disk = self.waiting
                where = f" ({memory} in memory, {disk} in {self.journal.directory})" if self.journal else ""
                log.warning("%d audit records wait for the store database%s (%s); next try in %.0f s",
                            memory + disk, where, exc.message, pause)
                self._giving_up.wait(pause)
            except Exception:  # deliberately broad: whatever the store raised, the audit trail must not turn
                # delivered mail into retries
                log.exception("could not write %d audit records", len(batch))
                return True

    def flush(self) -> None:
        """Wait until everything submitted so far is written (the journal replayed too)."""
        with self._lock:
            while (self._queue.unfinished_tasks or self._spilling) and self._thread.is_alive():
                self._idle.wait(0.2)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop; past ``timeout`` (a store that does not answer), what is
        left waits in the journal for the next start (without a journal it is given up, with one log line)."""
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._giving_up.set()
            self._thread.join(30)
        if self.journal is not None:
            self.journal.close()


MAX_JOURNALS = 65  # gateway.processes is at most 64, and a restarted front-end may briefly overlap the old one


def claim(store: Store, directory: Path, *, max_queued: int = DEFAULT_QUEUE_LIMIT) -> AuditWriter:
    """A writer whose journal is the first folder no living process holds: ``directory`` itself, else
    ``directory/frontend-N`` (several front-end processes share one spool)."""
    for n in range(MAX_JOURNALS):
        try:
            return AuditWriter(store, directory if n == 0 else directory / f"frontend-{n}", max_queued=max_queued)
        except JournalBusy:
            continue
    raise TemporaryError(f"every audit journal folder in {directory} is held by another process")


__all__ = ["AuditJournal", "AuditWriter", "JournalBusy", "claim"]

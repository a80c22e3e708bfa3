"""Audit records of the gateway's messages, written in batches by one background thread: one database
transaction per batch instead of one per message, and never on the event loop. ``close()`` writes what is left.

A store database that does not answer (PostgreSQL restarting, docs/cluster.md) holds the records back: the batch is
tried again, with pauses growing to ``MAX_RETRY_SECONDS``, while new records wait in the queue, until the database
answers or the writer is closed."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ..errors import TemporaryError
from ..store import audit
from ..store.database import Store

log = logging.getLogger("mailseal.gateway")

Record = tuple[str, str, dict[str, Any], str]  # action, subject, detail, actor
BATCH = 200
MAX_RETRY_SECONDS = 10.0


class AuditWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue[Record | None] = queue.Queue()
        self._giving_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailseal-audit", daemon=True)
        self._thread.start()

    def submit(self, action: str, subject: str, detail: dict[str, Any], actor: str = "gateway") -> None:
        self._queue.put((action, subject, detail, actor))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            for _ in range(len(batch) + stop):
                self._queue.task_done()
            if stop:
                return

    def _write(self, batch: list[Record]) -> None:
        pause = 0.5
        while True:
            try:
                with self.store.session() as session:
                    for action, subject, detail, actor in batch:
                        audit.record(session, action, subject, detail, actor)
                return
            except TemporaryError as exc:
                if self._giving_up.is_set():
                    log.error("%d audit records not written: %s", len(batch) + self._queue.qsize(), exc.message)
                    return
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                log.warning("%d audit records wait for the store database (%s); next try in %.0f s",
                            len(batch) + self._queue.qsize(), exc.message, pause)
                self._giving_up.wait(pause)
            except Exception:  # deliberately broad: whatever the store raised, the audit trail must not turn
                # delivered mail into retries
                log.exception("could not write %d audit records", len(batch))
                return

    def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        self._queue.join()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop; past ``timeout`` (a store that does not answer), what is
        left is given up with one log line."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._giving_up.set()
            self._thread.join(5)


__all__ = ["AuditWriter"]

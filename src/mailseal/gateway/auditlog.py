"""Audit records of the gateway's messages, written in batches by one background thread: one database
transaction per batch instead of one per message, and never on the event loop. ``close()`` writes what is left."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ..store import audit
from ..store.database import Store

log = logging.getLogger("mailseal.gateway")

Record = tuple[str, str, dict[str, Any], str]  # action, subject, detail, actor
BATCH = 200


class AuditWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue[Record | None] = queue.Queue()
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
        try:
            with self.store.session() as session:
                for action, subject, detail, actor in batch:
                    audit.record(session, action, subject, detail, actor)
        except Exception:  # deliberately broad: whatever the store raised, the audit trail must not turn
            # delivered mail into retries
            log.exception("could not write %d audit records", len(batch))

    def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        self._queue.join()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)


__all__ = ["AuditWriter"]

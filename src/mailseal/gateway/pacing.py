"""Large messages take turns on the event loop, so that they cannot hold up everyone else's commands.

The SMTP side and the relay share one event loop. A large message is received and relayed in blocks, and with
several large messages streaming at once every turn of the loop would run one block of each before it came back
to a small message's next command: each of that message's round trips then waited for all of them. Bulk steps
(one block of a large message, in or out) therefore go through one ``BulkLane``: one at a time, first come first
served. While other clients are being served (a command answered, a small message relayed, in the last second)
the lane also rests between steps, so that bulk work takes at most a third of the time: the process then
sleeps between blocks, and a small message's next command is read as soon as it arrives, even on a machine
whose cores are all busy (a process that never sleeps waits for a core at every round trip). With no one else
about, large messages go at full speed.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

BULK_AFTER = 1 << 20  # a message is "large" from this many octets on: smaller ones never wait for the lane
MIN_REST = 0.002  # seconds: rests are taken in pieces at least this long (the selector counts milliseconds)
RECENT = 1.0  # seconds: how long after other work was last seen the lane keeps resting


class BulkLane:
    """One step of bulk work at a time (``async with lane: ...``), in the order the steps asked for it; while
    ``interactive()`` was called within the last second, a rest of ``rest`` times each step's duration after
    it (``rest=2``: bulk work at most a third of the time)."""

    def __init__(self, rest: float = 2.0) -> None:
        self.rest = rest
        self._lock = asyncio.Lock()
        self._started = 0.0
        self._owed = 0.0  # seconds of rest the steps so far have earned and not yet had
        self._interactive_at = -RECENT

    def interactive(self) -> None:
        """Other work than bulk data was just done (a command answered, a small message relayed)."""
        self._interactive_at = time.monotonic()

    @property
    def resting(self) -> bool:
        """Whether bulk steps currently rest between them (others were served within ``RECENT`` seconds)."""
        return time.monotonic() - self._interactive_at < RECENT

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        self._started = time.perf_counter()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        try:
            if kind is None:
                await self._rest(time.perf_counter() - self._started)
        finally:
            self._lock.release()

    async def _rest(self, took: float) -> None:
        if not self.resting:
            self._owed = 0.0
            await asyncio.sleep(0)  # the next step (another message's, queued on the lock) on the next turn
            return
        self._owed += took * self.rest
        if self._owed < MIN_REST:
            await asyncio.sleep(0)
            return
        started = time.perf_counter()
        await asyncio.sleep(self._owed)
        # A rest that ran long (the loop was busy with other work meanwhile) counts, a little.
        self._owed = max(-MIN_REST, self._owed - (time.perf_counter() - started))


__all__ = ["BULK_AFTER", "RECENT", "BulkLane"]

"""Connection counts shared by a node's front-end processes (``gateway.processes``), so that ``max_connections``
and ``max_connections_per_client`` bound the node rather than each front-end.

One anonymous shared memory map, made by the supervisor before it forks the front-ends (every front-end, and every
one started again, is its child and maps the same memory): a row per front-end of 32-bit counts, the row's first
the front-end's open connections and the others its connections per client bucket (the client address hashed with
a key of the node, BLAKE2b, so that no one can choose addresses that fall in another client's bucket). Each
front-end writes its own row only and reads all of them: no lock, no system call, no database round trip per
connection. The supervisor zeroes the row of a front-end that died (its connections died with it).

Two admissions at the same instant in two front-ends may each see the other's slot free: the node may then hold up
to ``processes - 1`` connections above a limit for as long as those connections last. Two clients whose addresses
fall in one bucket (of ``BUCKETS``) share their per-client count on the other front-ends, which can only refuse
early, never admit more.
"""

from __future__ import annotations

import hashlib
import mmap
import secrets

#: Client buckets per front-end: 64 KiB of counts per front-end (untouched pages take no memory).
BUCKETS = 16384
_WIDTH = 4  # bytes per count ("I": unsigned 32-bit)


class NodeCounts:
    """The node's shared connection counts; ``attach(index)`` in a front-end before it admits connections."""

    def __init__(self, processes: int, buckets: int = BUCKETS) -> None:
        if processes < 1 or buckets < 1:
            raise ValueError("processes and buckets must be at least 1")
        self.processes = processes
        self.buckets = buckets
        self._stride = 1 + buckets
        self._map = mmap.mmap(-1, processes * self._stride * _WIDTH)  # MAP_SHARED: the children see one memory
        self._counts = memoryview(self._map).cast("I")
        self._key = secrets.token_bytes(32)
        self._row = -1  # this front-end's row once attached

    def attach(self, index: int) -> NodeCounts:
        """This process is front-end ``index``: its row starts empty (a predecessor's counts died with it)."""
        if not 0 <= index < self.processes:
            raise ValueError(f"front-end {index} is not one of {self.processes}")
        self.clear(index)
        self._row = index * self._stride
        return self

    def clear(self, index: int) -> None:
        """Zero front-end ``index``'s row (the supervisor, once that front-end has ended)."""
        start = index * self._stride * _WIDTH
        self._map[start:start + self._stride * _WIDTH] = bytes(self._stride * _WIDTH)

    def bucket(self, client: str) -> int:
        digest = hashlib.blake2b(client.encode("utf-8", "replace"), digest_size=8, key=self._key).digest()
        return 1 + int.from_bytes(digest, "big") % self.buckets

    def total(self) -> int:
        """Open connections over the node."""
        counts, stride = self._counts, self._stride
        return sum(counts[row * stride] for row in range(self.processes))

    def of_client(self, bucket: int) -> int:
        """Open connections over the node from the clients of ``bucket``."""
        counts, stride = self._counts, self._stride
        return sum(counts[row * stride + bucket] for row in range(self.processes))

    def add(self, bucket: int | None, step: int) -> None:
        """This front-end took (``step`` 1) or closed (-1) a connection; ``bucket`` None: not counted per client."""
        assert self._row >= 0, "attach() first"
        counts = self._counts
        counts[self._row] = max(0, counts[self._row] + step)
        if bucket is not None:
            counts[self._row + bucket] = max(0, counts[self._row + bucket] + step)


__all__ = ["BUCKETS", "NodeCounts"]

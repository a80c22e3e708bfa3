"""Fixed-window rate counters in the shared store (the ``rate_limits`` table): one row per key and window, so
that every node counts together (the console's per-address login throttle, the portal's passcode limits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from .database import Store
from .tables import rate_limits, utcnow

_L = rate_limits.c


@dataclass(frozen=True)
class RateResult:
    """One counted hit: ``allowed`` while ``count`` <= ``limit`` in the current window; ``retry_after`` is the
    time to the next window."""

    allowed: bool
    count: int
    limit: int
    retry_after: timedelta


def window_start(moment: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that holds ``moment`` (aligned on the epoch)."""
    seconds = int(window.total_seconds())
    if seconds <= 0:
        raise ValueError("a rate window must be at least a second")
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, moment.tzinfo)


class RateLimits:
    """The counters of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def hit(self, key: str, *, limit: int, window: timedelta, now: datetime | None = None) -> RateResult:
        """Count one hit on ``key`` (e.g. ``login-ip:192.0.2.1``) in the current window of length ``window``;
        allowed while the count is at most ``limit``. Atomic on both backends (an upsert), so two nodes count
        together."""
        if limit < 1:
            raise ValueError("a rate limit needs a limit of at least one")
        moment = now or utcnow()
        start = window_start(moment, window)
        key = key[:255]
        with self.store.session() as session:
            upsert: Any
            if self.store.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                upsert = pg_insert(rate_limits)
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                upsert = sqlite_insert(rate_limits)
            statement = upsert.values(key=key, window_start=start, count=1).on_conflict_do_update(
                index_elements=["key", "window_start"], set_={"count": _L.count + 1})
            session.execute(statement)
            count = int(session.execute(select(_L.count).where(_L.key == key, _L.window_start == start)).scalar_one())
        return RateResult(count <= limit, count, limit, start + window - moment)

    def count(self, key: str, *, window: timedelta, now: datetime | None = None) -> tuple[int, timedelta]:
        """(hits on ``key`` in the current window, time to the next window), counting nothing."""
        moment = now or utcnow()
        start = window_start(moment, window)
        with self.store.lookup() as conn:
            found = conn.execute(select(func.coalesce(func.sum(_L.count), 0))
                                 .where(_L.key == key[:255], _L.window_start == start)).scalar_one()
        return int(found), start + window - moment

    def prune(self, before: datetime) -> int:
        """Forget the windows that started before ``before``; the number of rows removed."""
        with self.store.session() as session:
            result = session.execute(delete(rate_limits).where(_L.window_start < before))
        return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["RateLimits", "RateResult", "window_start"]

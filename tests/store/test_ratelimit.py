"""Rate counters in the store (store/ratelimit.py): counted per key and fixed window, shared by two openings of the
same database (two nodes), read without counting, pruned (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailseal.store import Store
from mailseal.store.ratelimit import RateLimits, window_start

T0 = datetime(2026, 12, 7, 12, 0, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_hits_are_counted_per_key_until_the_limit(store: Store) -> None:
    limits = RateLimits(store)
    results = [limits.hit("a", limit=3, window=MINUTE, now=T0) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[-1].count == 4 and results[-1].retry_after == timedelta(seconds=50)
    assert limits.hit("b", limit=3, window=MINUTE, now=T0).count == 1  # another key counts apart


def test_a_new_window_starts_again(store: Store) -> None:
    limits = RateLimits(store)
    for _ in range(3):
        limits.hit("a", limit=2, window=MINUTE, now=T0)
    assert limits.count("a", window=MINUTE, now=T0)[0] == 3
    later = T0 + timedelta(seconds=50)
    assert limits.count("a", window=MINUTE, now=later)[0] == 0
    assert limits.hit("a", limit=2, window=MINUTE, now=later).allowed


def test_two_nodes_count_together_and_count_does_not_count(store_url: str) -> None:
    first, second = Store.open(store_url), Store.open(store_url)
    try:
        RateLimits(first).hit("ip", limit=5, window=MINUTE, now=T0)
        RateLimits(second).hit("ip", limit=5, window=MINUTE, now=T0)
        assert RateLimits(first).count("ip", window=MINUTE, now=T0) == (2, timedelta(seconds=50))
        assert RateLimits(second).count("ip", window=MINUTE, now=T0)[0] == 2
    finally:
        first.close()
        second.close()


def test_prune_forgets_old_windows(store: Store) -> None:
    limits = RateLimits(store)
    limits.hit("old", limit=1, window=MINUTE, now=T0 - timedelta(hours=2))
    limits.hit("new", limit=1, window=MINUTE, now=T0)
    assert limits.prune(T0 - timedelta(hours=1)) == 1
    assert limits.count("new", window=MINUTE, now=T0)[0] == 1


def test_windows_are_aligned_and_must_be_positive() -> None:
    assert window_start(T0, MINUTE) == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        window_start(T0, timedelta(0))

"""Throttling of SMTP AUTH password guessing, per client address and per account (OWASP ASVS 5.0 §6.3).

Failed logins are remembered for ``window`` seconds. Two counts slow guessing down:

- per client address: after ``SLOW_AFTER`` failures every further attempt from that address waits (doubling up
  to ``max_delay``), and after ``per_address`` failures the address is refused outright with a 4xx until its
  failures age out. This is the limit an attacker meets first.
- per account: after ``per_account`` failures (from any address) every attempt on that account waits, doubling
  up to ``max_delay``. It is never refused: a lock-out per account would let anyone lock a user out by guessing
  wrong on purpose, so the real user, from their own address, still logs in after at most ``max_delay``.

The wait comes before the password check and for every attempt alike, so an attacker cannot cut it short by
hanging up early on a slow answer and learns nothing from how long an answer took.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

SLOW_AFTER = 3  # failures from one address before its attempts are slowed
FIRST_DELAY = 0.25  # seconds; doubled for each failure past the threshold
MAX_TRACKED = 10_000  # addresses or accounts remembered at once (the oldest are forgotten first)


class _Failures:
    """Failure times per key within the window, bounded in keys."""

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self.window = window
        self.clock = clock
        self._times: dict[str, deque[float]] = {}

    def count(self, key: str) -> int:
        times = self._times.get(key)
        if times is None:
            return 0
        cutoff = self.clock() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        if not times:
            del self._times[key]
            return 0
        return len(times)

    def add(self, key: str) -> None:
        times = self._times.pop(key, None) or deque()
        times.append(self.clock())
        self._times[key] = times  # re-inserted: dict order is least recently failed first
        if len(self._times) > MAX_TRACKED:
            del self._times[next(iter(self._times))]

    def clear(self, key: str) -> None:
        self._times.pop(key, None)


def _backoff(failures: int, threshold: int, max_delay: float) -> float:
    if failures < threshold:
        return 0.0
    return min(max_delay, FIRST_DELAY * 2.0 ** min(failures - threshold, 32))


class AuthThrottle:
    def __init__(self, *, per_address: int = 10, per_account: int = 5, window: float = 900.0,
                 max_delay: float = 8.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_address = per_address
        self.per_account = per_account
        self.max_delay = max_delay
        self._address = _Failures(window, clock)
        self._account = _Failures(window, clock)

    def refused(self, address: str) -> bool:
        """The address has failed too often: refuse its AUTH (4xx) without checking anything."""
        return self._address.count(address) >= self.per_address

    def delay(self, address: str, account: str) -> tuple[float, str | None]:
        """Seconds to wait before checking this attempt, and which limit imposed it ("address", "account")."""
        by_address = _backoff(self._address.count(address), SLOW_AFTER, self.max_delay)
        by_account = _backoff(self._account.count(account.lower()), self.per_account, self.max_delay)
        if by_address == by_account == 0:
            return 0.0, None
        return (by_address, "address") if by_address >= by_account else (by_account, "account")

    def failed(self, address: str, account: str) -> None:
        self._address.add(address)
        self._account.add(account.lower())

    def succeeded(self, account: str) -> None:
        """The account's owner got in: earlier failures on the account stop slowing it down. The address keeps
        its count (a valid login of one account must not reset the guessing budget for others)."""
        self._account.clear(account.lower())


class BurstLimit:
    """At most ``limit`` events per key within ``window`` seconds: encrypted messages from one envelope sender or
    one client address (RFC 3218 §2.3: a decryption oracle needs many queries; each costs the attacker a message,
    and past the limit the rest wait). Every message counts, whatever its decryption gave, so the limit itself
    tells the sender nothing about earlier outcomes."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._seen = _Failures(window, clock)

    def hit(self, keys: list[str]) -> str | None:
        """Count one event for each key; the first key already at its limit (the event is then not counted)."""
        over = next((key for key in keys if self._seen.count(key) >= self.limit), None)
        if over is None:
            for key in keys:
                self._seen.add(key)
        return over


__all__ = ["AuthThrottle", "BurstLimit"]

"""Log lines a client can provoke at will (failed TLS handshakes, junk connections), limited in rate.

A hostile client can make a failed handshake ~60 times a second; each would otherwise be a multi-line traceback.
Each kind of event is logged as one line, at most ``per_minute`` times a minute; past that the lines are counted
and the count is logged once the minute is over ("... and 123 more").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, per_minute: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self.clock = clock
        self._window: dict[str, tuple[float, int]] = {}  # kind -> (start of its minute, lines in it)

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """Log one line of this kind unless the kind's budget for the minute is spent; True when logged."""
        now = self.clock()
        start, count = self._window.get(kind, (now, 0))
        if now - start >= 60.0:
            if count > self.per_minute:
                self.logger.warning("%s: %d more in the last minute, not logged one by one", kind,
                                    count - self.per_minute)
            start, count = now, 0
        count += 1
        self._window[kind] = (start, count)
        if count > self.per_minute:
            return False
        self.logger.warning(message, *args)
        return True


__all__ = ["RateLimitedLog"]

"""Times and durations as operators type them: ``2h``, ``7d``, ``30m``, ``2w`` or an ISO 8601 date or time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str, what: str = "a duration") -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (one number, one unit) or a bare number of days."""
    value = text.strip().lower()
    if value.isdigit():
        return timedelta(days=int(value))
    m = _DURATION.fullmatch(value)
    if m is None:
        raise UsageError(f"{what} must be a number with a unit s, m, h, d or w (such as 30d or 12h), not {text!r}")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_moment(text: str, now: datetime | None = None, what: str = "a time") -> datetime:
    """A relative time back from ``now`` (``2h`` is two hours ago) or an ISO 8601 date or date-time; a time
    without a zone is UTC (the audit log's times are UTC), a bare date is its midnight UTC."""
    value = text.strip()
    if _DURATION.fullmatch(value.lower()):
        return (now or datetime.now(UTC)) - parse_duration(value, what)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise UsageError(f"{what} must be an ISO 8601 date or time (2026-12-01, 2026-12-01T08:30) or an age "
                         f"such as 2h or 7d, not {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


__all__ = ["parse_duration", "parse_moment"]

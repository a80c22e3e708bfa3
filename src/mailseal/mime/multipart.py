"""The body parts of a multipart entity (RFC 2046 §5.1), found without copying: used by the signed layer and by
header protection alike."""

from __future__ import annotations

import re

from ..errors import LimitExceededError, MalformedMIMEError
from ..limits import DEFAULT_LIMITS, Deadline
from ..streamio import Region


def split_multipart(body: Region, boundary: str, max_parts: int = DEFAULT_LIMITS.max_parts,
                    deadline: Deadline | None = None) -> list[Region]:
    """Each body part exactly as received: from after a delimiter line to the line end before the next one
    (RFC 2046 §5.1.1). Scans the body in chunks; the parts are Regions, not copies. More than ``max_parts``
    parts raise ``LimitExceededError`` (limits.max_parts); past ``deadline``, ``TimeLimitExceededError``
    (limits.message_seconds: checked at each candidate delimiter, however many lines merely look like one)."""
    delimiter = b"--" + boundary.encode()
    parts: list[Region] = []
    start: int | None = None
    pos = 0
    while True:
        hit = body.find(delimiter, pos)
        if hit < 0:
            raise MalformedMIMEError("the multipart body has no closing boundary (truncated message?)")
        pos = hit + 1
        if deadline is not None:
            deadline.check()
        if hit > 0 and body.read(hit - 1, 1) != b"\n":
            continue  # not at the start of a line
        rest = body.read(hit + len(delimiter), 256)
        m = _DELIMITER_TAIL.match(rest)
        if m is None:
            continue
        if start is not None:
            end = hit
            if end > 0 and body.read(end - 1, 1) == b"\n":
                end -= 2 if end > 1 and body.read(end - 2, 1) == b"\r" else 1
            parts.append(body.sub(start, max(start, end)))
            if len(parts) > max_parts:
                raise LimitExceededError(f"a multipart entity has more than {max_parts} parts (limits.max_parts)")
        if m.group(1):
            return parts
        start = hit + len(delimiter) + m.end()


_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*(?:\r?\n|\Z)")


__all__ = ["split_multipart"]

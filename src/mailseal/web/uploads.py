"""How large a file the console takes in an upload (certificates, trust anchors): larger is refused, not read."""

from __future__ import annotations

MAX_UPLOAD = 16 * 1024 * 1024

__all__ = ["MAX_UPLOAD"]

"""Settings from the environment and the data directory ($MAILSEAL_HOME, default ./mailseal-data)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = "mailseal-data"


def data_dir(create: bool = False) -> Path:
    """The data directory: ``$MAILSEAL_HOME`` or ``./mailseal-data``; created (mode 0700) when asked."""
    path = Path(os.environ.get("MAILSEAL_HOME") or DEFAULT_HOME)
    if create:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path


__all__ = ["DEFAULT_HOME", "data_dir"]

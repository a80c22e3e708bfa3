"""Where `mailseal serve` logs: standard error (journald under systemd), or a file rotated by mailseal
(RotatingFileHandler) or by logrotate (WatchedFileHandler reopens the file once logrotate has moved it)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Mapping
from typing import Any

from .settings import LogSettings

FORMAT = "%(asctime)s %(name)s %(message)s"
#: Libraries whose INFO lines are noise here: aiosmtpd's per-command lines, migrations at start-up.
CHATTY = ("mail.log", "alembic")


def handler_for(log: LogSettings, shared: bool = False) -> logging.Handler:
    """``shared``: several front-end processes write the file (gateway.processes): appends from each, never a
    rotation by one of them under the others (logrotate's copy or move is then the way to rotate)."""
    if log.file is None:
        return logging.StreamHandler(sys.stderr)
    if log.max_bytes and not shared:
        # Only the main process writes the log (worker processes hand their results back), so one process
        # rotates the file, as RotatingFileHandler requires.
        return logging.handlers.RotatingFileHandler(log.file, maxBytes=log.max_bytes, backupCount=log.backups,
                                                    encoding="utf-8")
    return logging.handlers.WatchedFileHandler(log.file, encoding="utf-8")


def setup_logging(settings: Mapping[str, Any], level: str, shared: bool = False) -> LogSettings:
    """Configure the root logger from the ``[log]`` table (checked: ConfigurationError) at ``level``; ``shared``:
    for several front-end processes (``handler_for``)."""
    log = LogSettings.from_settings(settings)
    handler = handler_for(log, shared)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return log


__all__ = ["setup_logging"]

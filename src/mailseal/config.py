"""Settings from the environment and the data directory ($MAILSEAL_HOME, default ./mailseal-data)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import UsageError

DEFAULT_HOME = "mailseal-data"


def data_dir(create: bool = False) -> Path:
    """The data directory: ``$MAILSEAL_HOME`` or ``./mailseal-data``; created (mode 0700) when asked."""
    path = Path(os.environ.get("MAILSEAL_HOME") or DEFAULT_HOME)
    if create:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path


CONFIG_ENV = "MAILSEAL_CONFIG"


def load_settings() -> dict[str, Any]:
    """The settings file: ``$MAILSEAL_CONFIG``, else ``mailseal.toml`` in the data directory; empty when absent.
    Raw settings only: each layer interprets its own table."""
    explicit = os.environ.get(CONFIG_ENV)
    path = Path(explicit) if explicit else data_dir() / "mailseal.toml"
    if not path.is_file():
        if explicit:
            raise UsageError(f"the settings file {path} does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"the settings file {path} is not valid TOML: {exc}") from None


__all__ = ["CONFIG_ENV", "DEFAULT_HOME", "data_dir", "load_settings"]

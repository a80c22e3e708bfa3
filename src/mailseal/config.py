"""Settings from the environment and the data directory (the home: ``--home``/``$MAILSEAL_HOME``, else
``$XDG_DATA_HOME/mailseal``, else ``~/.local/share/mailseal``)."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigurationError, UsageError

HOME_ENV = "MAILSEAL_HOME"
CONFIG_ENV = "MAILSEAL_CONFIG"
#: The folder under the per-user data directory (XDG Base Directory Specification) when no home is given.
APP_DIR = "mailseal"


def default_home() -> Path:
    """The per-user default: ``$XDG_DATA_HOME/mailseal``, else ``~/.local/share/mailseal``.

    The XDG specification says a relative ``$XDG_DATA_HOME`` is invalid and must be ignored; so it is here, which
    keeps the home independent of the current folder."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_DIR
    try:
        return Path.home() / ".local" / "share" / APP_DIR
    except RuntimeError:  # no $HOME and no password entry: nothing to derive a per-user folder from
        raise UsageError(f"no home folder to keep mailseal's data in: use --home DIR or set ${HOME_ENV}") from None


def home_source() -> str:
    """Where the home comes from, as ``mailseal status`` prints it: ``$MAILSEAL_HOME`` or the per-user default.
    (``--home`` sets ``$MAILSEAL_HOME`` for the command and everything it starts.)"""
    return f"${HOME_ENV}" if os.environ.get(HOME_ENV) else "default"


def data_dir(create: bool = False) -> Path:
    """The data directory, absolute: ``$MAILSEAL_HOME`` (the CLI's ``--home`` sets it), else the per-user
    default (:func:`default_home`); created (mode 0700) when asked.

    A relative ``$MAILSEAL_HOME`` is taken from the current folder once, here, so that every path derived from
    the home (store, trust list, CA, settings) names the same folder in messages."""
    explicit = os.environ.get(HOME_ENV)
    path = Path(explicit).absolute() if explicit else default_home()
    if create:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path


def settings_path() -> Path:
    """The settings file: ``$MAILSEAL_CONFIG``, else ``mailseal.toml`` in the data directory (it may not exist)."""
    explicit = os.environ.get(CONFIG_ENV)
    return Path(explicit).absolute() if explicit else data_dir() / "mailseal.toml"


def load_settings() -> dict[str, Any]:
    """The settings file: ``$MAILSEAL_CONFIG``, else ``mailseal.toml`` in the data directory; empty when absent.
    Raw settings only: each layer interprets its own table."""
    path = settings_path()
    if not path.is_file():
        if os.environ.get(CONFIG_ENV):
            raise ConfigurationError(f"the settings file {path} does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the settings file {path} is not valid TOML: {exc}") from None


def parse_hostport(value: Any, where: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """``host:port`` of a settings file (``[::1]:8443`` for IPv6), for every table that names a listener or a next
    hop; port 0 ("any free port") only with ``allow_zero``. A ConfigurationError names ``where``."""
    if isinstance(value, str):
        host, sep, port = value.rpartition(":")
        host = host.strip("[]")
        if sep and host and port.isdigit() and (0 if allow_zero else 1) <= int(port) < 65536:
            return host, int(port)
    raise ConfigurationError(f'{where} must be "host:port", not {value!r}')


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: where plain HTTP may be served (the console, the portal)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["APP_DIR", "CONFIG_ENV", "HOME_ENV", "data_dir", "default_home", "home_source", "is_loopback",
           "load_settings", "parse_hostport", "settings_path"]

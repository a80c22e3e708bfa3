"""Settings from the environment and the data directory (the home: ``--home``/``$MAILSEAL_HOME``, else
``$XDG_DATA_HOME/mailseal``, else ``~/.local/share/mailseal``)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
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


def secret_key_file(path: Path, what: str, *, size: int = 32, create: bool = True) -> bytes:
    """The ``size``-byte key held in hex in ``path`` (the console's and the portal's keys), made at first use when
    ``create``: written whole to a private temporary file (mode 0600) and linked into place, so a process starting
    at the same moment (another front-end, another service) never reads it half written, and the first one made
    wins. A file that does not hold ``2 * size`` hex digits is a ``ConfigurationError`` naming the file, never its
    content."""
    if not path.exists():
        if not create:
            raise ConfigurationError(f"the {what} file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(size) + "\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first: theirs is the key
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (ValueError, UnicodeDecodeError):
        key = b""
    except OSError as exc:
        raise ConfigurationError(f"the {what} file {path} cannot be read: {exc.strerror}") from None
    if len(key) != size:
        raise ConfigurationError(f"the {what} file {path} must hold {2 * size} hex digits ({size} bytes)")
    return key

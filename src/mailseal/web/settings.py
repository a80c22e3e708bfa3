"""The console's settings: the ``[web]`` table of the settings file (docs/web.md) with the ``[limits]`` table
(docs/limits.md), and the console key that seals the accounts' TOTP secrets."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import data_dir, is_loopback, parse_hostport, secret_key_file
from ..errors import ConfigurationError
from ..limits import DEFAULT_LIMITS, Limits

DEFAULT_LISTEN = ("127.0.0.1", 8443)
KEY_FILE = "console.key"
KNOWN = {"listen", "tls_cert", "tls_key", "idle_timeout", "absolute_timeout", "key_file", "fetch_networks",
         "login_failures_per_address", "login_failure_window", "public_url"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class WebSettings:
    """Where the console listens and how long its sessions last. ``key_file`` holds 32 random bytes (hex) that
    seal the TOTP secrets: every node of a cluster needs the same file."""

    host: str = DEFAULT_LISTEN[0]
    port: int = DEFAULT_LISTEN[1]
    tls_cert: Path | None = None
    tls_key: Path | None = None
    idle_timeout: timedelta = timedelta(minutes=15)
    absolute_timeout: timedelta = timedelta(hours=8)
    key_file: Path | None = None
    # Networks that are not public but whose CRL and OCSP servers "Check revocation now" may ask (a company CA's
    # distribution point on 10.x); by default the console fetches from public addresses only (pki/fetching.py).
    fetch_networks: tuple[str, ...] = ()
    # One client address may fail to sign in this many times in a window (every node counts together, in the
    # store) before its attempts are refused with 429 until the window ends; 0: no limit. The per-account lock-out
    # (store/admins.py) stops guessing one account; this stops one address guessing many (ASVS 6.3.1... 2.2.1).
    login_failures_per_address: int = 20
    login_failure_window: timedelta = timedelta(minutes=15)
    # The URL people open the console at (behind a proxy, or a host name for the listening address): security keys
    # (WebAuthn) are bound to its host name and checked against its origin. None: made from the listening address.
    public_url: str | None = None
    # The [limits] table (docs/limits.md), read by the one parser the gateway and the CLI use: the verify page and
    # POST /api/v1/verify open uploads within them. Not a key of [web].
    limits: Limits = DEFAULT_LIMITS

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def origin(self) -> str:
        """The console's origin as a browser names it (``scheme://host[:port]``): ``public_url``'s, else the
        listening address's, with ``localhost`` for a loopback address (browsers refuse WebAuthn on an IP address,
        and ``http://localhost`` counts as a secure context)."""
        if self.public_url:
            return _origin(self.public_url)
        host = "localhost" if is_loopback(self.host) else f"[{self.host}]" if ":" in self.host else self.host
        return _origin(f"{'https' if self.tls else 'http'}://{host}:{self.port}")

    @property
    def rp_id(self) -> str:
        """The WebAuthn relying party id: the origin's host name."""
        return urlsplit(self.origin).hostname or ""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case, without a default port (as a browser serialises it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    port = parts.port
    return f"{parts.scheme.lower()}://{shown}" + (f":{port}" if port and port != _DEFAULT_PORTS.get(parts.scheme) else "")


def _public_url(value: Any) -> str:
    where = "web.public_url"
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        valid = parts is not None and parts.scheme in _DEFAULT_PORTS and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        valid = False
    if not valid or parts is None or parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(f'{where} must be the URL the console is opened at ("https://console.example.org/"), '
                                 f"not {value!r}")
    if parts.scheme == "http" and parts.hostname != "localhost":
        raise ConfigurationError(f"{where}: browsers use security keys over https only (or http://localhost)")
    return str(value)


def _seconds(value: Any, where: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{where} must be a positive number of seconds, not {value!r}")
    return timedelta(seconds=value)


def _path(value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where} must be a file name")
    return Path(value).expanduser()


def parse_web(settings: Mapping[str, Any]) -> WebSettings:
    """The ``[web]`` table (defaults when absent). Plain HTTP is refused on any address but loopback: the
    console's cookies and passwords must not cross a network in clear (ASVS 12.1)."""
    table = settings.get("web", {})
    if not isinstance(table, Mapping):
        raise ConfigurationError("[web] must be a table")
    for key in table:
        if key not in KNOWN:
            raise ConfigurationError(f"unknown setting web.{key} (known: {', '.join(sorted(KNOWN))})")
    host, port = parse_hostport(table["listen"], "web.listen") if "listen" in table else DEFAULT_LISTEN
    cert = _path(table["tls_cert"], "web.tls_cert") if "tls_cert" in table else None
    key = _path(table["tls_key"], "web.tls_key") if "tls_key" in table else None
    if (cert is None) != (key is None):
        raise ConfigurationError("web.tls_cert and web.tls_key go together: give both or neither")
    if cert is None and not is_loopback(host):
        raise ConfigurationError(f"web.listen {host}:{port} is not a loopback address: plain HTTP is served on "
                                 "loopback only; set web.tls_cert and web.tls_key to serve TLS there")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"the console's TLS file {path} does not exist")
    idle = _seconds(table.get("idle_timeout", 900), "web.idle_timeout")
    absolute = _seconds(table.get("absolute_timeout", 8 * 3600), "web.absolute_timeout")
    key_file = _path(table["key_file"], "web.key_file") if "key_file" in table else None
    failures = table.get("login_failures_per_address", 20)
    if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures <= 100_000:
        raise ConfigurationError("web.login_failures_per_address must be a whole number from 0 (no limit) to 100000")
    window = _seconds(table.get("login_failure_window", 900), "web.login_failure_window")
    public = _public_url(table["public_url"]) if "public_url" in table else None
    return WebSettings(host, port, cert, key, idle, absolute, key_file, _networks(table.get("fetch_networks", [])),
                       failures, window, public, Limits.from_settings(settings))


def _networks(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise ConfigurationError("web.fetch_networks must be a list of networks (\"10.0.0.0/8\")")
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigurationError(f"web.fetch_networks: {net!r} is not a network") from None
    return tuple(value)


def console_key(settings: WebSettings) -> bytes:
    """The console key: read from ``key_file`` (default ``console.key`` in the data directory), created (mode
    0600) when missing."""
    return secret_key_file(settings.key_file or data_dir(create=True) / KEY_FILE, "console key")


__all__ = ["DEFAULT_LISTEN", "WebSettings", "console_key", "is_loopback", "parse_web"]

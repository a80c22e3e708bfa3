"""The recipient portal's settings: ``[portal]`` and its brands ``[portal.brands."DOMAIN"]`` in the settings file
(docs/portal.md), with the branding knobs of Office 365 Message Encryption. Parsed strictly: an unknown key, a
wrong type or a missing logo file is a ``ConfigurationError`` naming the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import is_loopback, parse_hostport
from ..errors import ConfigurationError
from . import validation as v

DEFAULT_LISTEN = ("127.0.0.1", 8444)
DEFAULT_EXPIRY_DAYS = 14
MAX_EXPIRY_DAYS = 730
PROOFS = ("passcode", "password", "account")
SUBJECTS = ("real", "neutral")
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
MAX_LOGO_BYTES = 256 * 1024
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}")
BRAND_KEYS = ("logo", "background_colour", "introduction_text", "email_text", "portal_text", "disclaimer",
              "read_button_text", "privacy_statement_url", "expiry_days", "passcode", "subject", "neutral_subject",
              "read_receipt", "proof", "from_name")
PORTAL_KEYS = ("listen", "tls_cert", "tls_key", "base_url", "expiry_days", "outbox_poll_seconds",
               "purge_interval_seconds", "sender", "key_file", "brands")


@dataclass(frozen=True)
class Brand:
    """How one sender domain's portal mail looks (``domain`` "" is the default brand)."""

    domain: str = ""
    logo: Path | None = None
    background_colour: str = "#ffffff"
    introduction_text: str = "has sent you a protected message."
    email_text: str = "To read it, open the link below and confirm your e-mail address with a one-time passcode."
    portal_text: str = "This message was sent to you protected."
    disclaimer: str = ""
    read_button_text: str = "Read the message"
    privacy_statement_url: str | None = None
    expiry_days: int | None = None  # None: the portal's expiry_days
    passcode: bool = True
    subject: str = "real"  # real | neutral: the notification's Subject
    neutral_subject: str = "You have received a protected message"
    read_receipt: bool = False
    proof: str = "passcode"  # passcode | password | account
    from_name: str | None = None  # the notification's display name; default "SENDER via the portal"

    @property
    def logo_type(self) -> str | None:
        return None if self.logo is None else LOGO_TYPES[self.logo.suffix.lower()]

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(val) if isinstance(val, Path) else val) for k, val in self.__dict__.items()}


@dataclass(frozen=True)
class PortalSettings:
    """Where the portal listens, the links' base URL, expiry, and the brands by sender domain."""

    host: str = DEFAULT_LISTEN[0]
    port: int = DEFAULT_LISTEN[1]
    tls_cert: Path | None = None
    tls_key: Path | None = None
    base_url: str = "http://127.0.0.1:8444/"
    expiry_days: int = DEFAULT_EXPIRY_DAYS
    outbox_poll_seconds: float = 5.0
    purge_interval_seconds: float = 3600.0
    sender: str | None = None  # From of passcode mails, receipts and relayed replies; None: portal@ sender's domain
    key_file: Path | None = None
    brands: Mapping[str, Brand] = field(default_factory=dict)
    #: The settings file has a ``[portal]`` table (the gateway then drains the outbox and purges on a schedule).
    configured: bool = False

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def brand_for(self, address_or_domain: str) -> Brand:
        """The brand of a sender's domain: the domain's own, else its nearest parent's, else the default."""
        domain = address_or_domain.rpartition("@")[2].strip().lower().rstrip(".")
        while domain:
            if domain in self.brands:
                return self.brands[domain]
            domain = domain.partition(".")[2]
        return Brand()

    def expiry_for(self, brand: Brand) -> int:
        return self.expiry_days if brand.expiry_days is None else brand.expiry_days

    def link(self, token: str) -> str:
        """The URL a notification links to: ``base_url`` + ``m/TOKEN``."""
        return f"{self.base_url}m/{token}"

    def sender_for(self, original_sender: str) -> str:
        domain = original_sender.rpartition("@")[2] or "localhost"
        return self.sender or f"portal@{domain}"


def _days(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EXPIRY_DAYS:
        raise ConfigurationError(f"{where} must be a whole number of days from 0 to {MAX_EXPIRY_DAYS} (0: never "
                                 f"expires), not {value!r}")
    return value


def _file(value: Any, where: str) -> Path:
    path = Path(v.string(value, where)).expanduser()
    if not path.is_file():
        raise ConfigurationError(f"{where}: the file {path} does not exist")
    return path


def _url(value: Any, where: str) -> str:
    text = v.string(value, where).strip()
    if not re.match(r"https?://[^\s/]+", text):
        raise ConfigurationError(f"{where} must be an http:// or https:// URL, not {text!r}")
    return text


def _one_of(value: Any, choices: tuple[str, ...], where: str) -> str:
    text = v.string(value, where).strip().lower()
    if text not in choices:
        raise ConfigurationError(f'{where}: "{text}" is not one of {", ".join(choices)}'
                                 f"{v.did_you_mean(text, choices)}")
    return text


def _brand(domain: str, tbl: Mapping[str, Any]) -> Brand:
    where = f'portal.brands."{domain}"'
    v.check_keys(v.table(tbl, where), BRAND_KEYS, where)
    kw: dict[str, Any] = {"domain": domain}
    for key, value in tbl.items():
        at = f"{where}.{key}"
        if key == "logo":
            path = _file(value, at)
            if path.suffix.lower() not in LOGO_TYPES:
                raise ConfigurationError(f"{at}: the logo must be a PNG, JPEG or GIF file (it is embedded in the "
                                         "notification, never linked)")
            if path.stat().st_size > MAX_LOGO_BYTES:
                raise ConfigurationError(f"{at}: the logo is larger than {MAX_LOGO_BYTES // 1024} KiB")
            kw[key] = path
        elif key == "background_colour":
            text = v.string(value, at).strip()
            if not _COLOUR.fullmatch(text):
                raise ConfigurationError(f'{at} must be a colour as "#rrggbb", not {text!r}')
            kw[key] = text
        elif key == "privacy_statement_url":
            kw[key] = _url(value, at)
        elif key == "expiry_days":
            kw[key] = _days(value, at)
        elif key in ("passcode", "read_receipt"):
            kw[key] = v.boolean(value, at)
        elif key == "subject":
            kw[key] = _one_of(value, SUBJECTS, at)
        elif key == "proof":
            kw[key] = _one_of(value, PROOFS, at)
        elif key == "disclaimer":
            kw[key] = v.string(value, at, empty=True)
        else:
            kw[key] = v.string(value, at)
    brand = Brand(**kw)
    if not brand.passcode and brand.proof == "passcode":
        raise ConfigurationError(f"{where}: passcode = false needs another proof (proof = \"password\" or "
                                 "\"account\"): the portal never shows a message without one")
    return brand


def parse_portal(settings: Mapping[str, Any]) -> PortalSettings:
    """The ``[portal]`` table (defaults when absent). Plain HTTP is served on loopback only (the portal's cookies
    must not cross a network in clear), as for the console."""
    tbl = v.table(settings.get("portal", {}), "[portal]")
    v.check_keys(tbl, PORTAL_KEYS, "portal")
    host, port = DEFAULT_LISTEN
    if "listen" in tbl:
        host, port = parse_hostport(v.string(tbl["listen"], "portal.listen"), "portal.listen")
    cert = _file(tbl["tls_cert"], "portal.tls_cert") if "tls_cert" in tbl else None
    key = _file(tbl["tls_key"], "portal.tls_key") if "tls_key" in tbl else None
    if (cert is None) != (key is None):
        raise ConfigurationError("portal.tls_cert and portal.tls_key go together: give both or neither")
    if cert is None and not is_loopback(host):
        raise ConfigurationError(f"portal.listen {host}:{port} is not a loopback address: plain HTTP is served on "
                                 "loopback only; set portal.tls_cert and portal.tls_key to serve TLS there")
    shown = f"[{host}]" if ":" in host else host
    base = _url(tbl["base_url"], "portal.base_url") if "base_url" in tbl else \
        f"{'https' if cert else 'http'}://{shown}:{port}/"
    if not base.endswith("/"):
        base += "/"
    expiry = _days(tbl.get("expiry_days", DEFAULT_EXPIRY_DAYS), "portal.expiry_days")
    poll = v.positive_number(tbl.get("outbox_poll_seconds", 5), "portal.outbox_poll_seconds")
    purge = v.positive_number(tbl.get("purge_interval_seconds", 3600), "portal.purge_interval_seconds")
    sender = None
    if "sender" in tbl:
        sender = v.string(tbl["sender"], "portal.sender").strip()
        if "@" not in sender:
            raise ConfigurationError(f"portal.sender must be an e-mail address, not {sender!r}")
    key_file = Path(v.string(tbl["key_file"], "portal.key_file")).expanduser() if "key_file" in tbl else None
    brands_tbl = v.table(tbl.get("brands", {}), "portal.brands")
    brands = {d.strip().lower().rstrip("."): _brand(d.strip().lower().rstrip("."), b) for d, b in brands_tbl.items()}
    if len(brands) != len(brands_tbl):
        raise ConfigurationError("portal.brands: the same domain is listed twice (domains ignore case)")
    return PortalSettings(host, port, cert, key, base, expiry, poll, purge, sender, key_file, brands,
                          configured="portal" in settings)


__all__ = ["BRAND_KEYS", "DEFAULT_EXPIRY_DAYS", "DEFAULT_LISTEN", "PORTAL_KEYS", "Brand", "PortalSettings",
           "parse_portal"]

"""The console's publishing page: what `mailseal certs publish` would publish where (``store.publishing``), and the
files themselves: the SMIMEA zone fragment of one domain (RFC 8162), an LDIF for an LDAP directory (RFC 2849), a
PEM bundle and a PKCS#7 (.p7b) bundle.

The accepted domains come from the settings file, read as the CLI reads it (``mailseal.config.load_settings``,
``$MAILSEAL_CONFIG`` else ``mailseal.toml`` in the data directory) through ``Policy.from_settings``: without them
the directory's imported entries are not published (nothing would tell a correspondent from a colleague)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ..config import load_settings
from ..errors import UsageError
from ..policy.engine import Policy
from ..store import publishing
from ..store.database import Store

Download = Literal["smimea", "ldif", "pem", "p7b"]


def is_ours(settings: dict[str, Any] | None = None) -> Callable[[str], bool] | None:
    """``Policy.is_internal`` of the settings' accepted domains; None when none are configured (as cli/publish)."""
    policy = Policy.from_settings(load_settings() if settings is None else settings)
    return policy.is_internal if policy.accepted_domains else None


@dataclass(frozen=True)
class PublishingPage:
    summary: publishing.PublishingSummary
    accepted_domains: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "accepted_domains_configured": self.accepted_domains}


def summary(store: Store, at: datetime, *, ca_directory: Path | None = None, base_dn: str | None = None,
            settings: dict[str, Any] | None = None) -> PublishingPage:
    """What is published where (``publishing.published``), judged at ``at``."""
    ours = is_ours(settings)
    found = publishing.published(store, is_ours=ours, at=at, ca_directory=ca_directory,
                                 base_dn=base_dn or None)
    return PublishingPage(found, ours is not None)


def download(store: Store, at: datetime, fmt: Download, *, ca_directory: Path | None = None,
             domain: str | None = None, base_dn: str | None = None,
             settings: dict[str, Any] | None = None) -> tuple[bytes, str, str]:
    """(the file's bytes, its media type, a file name) for one format, as `mailseal certs publish` writes it."""
    selection = publishing.select_certificates(store, is_ours=is_ours(settings), at=at, ca_directory=ca_directory)
    if fmt == "smimea":
        if not domain:
            raise UsageError("the SMIMEA zone fragment is written one domain at a time: give the domain")
        name = domain.strip().rstrip(".").lower()
        if name not in selection.domains:
            raise UsageError(f"no certificate is published at {name}")
        return publishing.smimea_zone(selection, name).encode(), "text/dns", f"{name}.smimea.zone"
    if fmt == "ldif":
        if not base_dn:
            raise UsageError("the LDIF needs a base DN (the entries' parent, e.g. ou=people,dc=example,dc=org)")
        return publishing.ldif(selection, base_dn).encode(), "text/x-ldif", "mailseal-certificates.ldif"
    if fmt == "pem":
        return publishing.pem_bundle(selection).encode(), "application/x-pem-file", "mailseal-certificates.pem"
    if fmt == "p7b":
        return publishing.p7b_bundle(selection), "application/x-pkcs7-certificates", "mailseal-certificates.p7b"
    raise UsageError(f"unknown format {fmt!r}: smimea, ldif, pem or p7b")


__all__ = ["Download", "PublishingPage", "download", "is_ours", "summary"]

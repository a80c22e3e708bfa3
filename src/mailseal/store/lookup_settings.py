"""The recipient lookup the administrator configured: `[lookup]` in the settings file (issue 5, "Lookup")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from ..errors import ConfigurationError
from ..pki.validation import ValidationContext
from .directory import Directory
from .lookup import DEFAULT_TTL, LOCAL, CertificateLookup, Source


def lookup_from_settings(
    directory: Directory, settings: Mapping[str, Any], context: ValidationContext | None = None
) -> CertificateLookup:
    """Build the lookup from the `[lookup]` table (see :func:`lookup_sources`)."""
    sources, ttl = lookup_sources(settings)
    return CertificateLookup(directory, sources, context=context, ttl=ttl)


def lookup_sources(settings: Mapping[str, Any]) -> tuple[list[Source | Literal["local"]], float]:
    """The sources in order and the cache lifetime the `[lookup]` table names, checked without contacting any
    (``serve --check-config`` calls it); a bad table is a ``ConfigurationError`` naming the key::

        [lookup]
        order = ["local", "ldap", "smimea"]     # default: ["local"]
        ttl = 3600
        [lookup.ldap]
        url = "ldap://ldap.example.org"
        base_dn = "dc=example,dc=org"
        bind_dn = "cn=reader,dc=example,dc=org"  # optional, with password_env naming the variable holding it
        password_env = "MAILSEAL_LDAP_PASSWORD"
        filter = "(mail={address})"
        [lookup.smimea]
        nameserver = "192.0.2.53"
        port = 53
    """
    table = settings.get("lookup", {})
    if not isinstance(table, Mapping):
        raise ConfigurationError("[lookup] in the settings file must be a table")
    order = table.get("order", [LOCAL])
    if not isinstance(order, list) or not all(isinstance(o, str) for o in order):
        raise ConfigurationError("lookup.order must be a list of source names")
    sources: list[Source | Literal["local"]] = []
    for name in order:
        if name == LOCAL:
            sources.append(LOCAL)
        elif name == "ldap":
            sources.append(_ldap(table.get("ldap")))
        elif name == "smimea":
            sources.append(_smimea(table.get("smimea")))
        else:
            raise ConfigurationError(f"lookup.order: unknown source {name!r} (local, ldap or smimea)")
    ttl = _number(table, "ttl", DEFAULT_TTL, "lookup.ttl")
    if ttl < 0:
        raise ConfigurationError("lookup.ttl must not be negative")
    return sources, ttl


def _number(table: Mapping[str, Any], key: str, default: float, name: str) -> float:
    """``table[key]`` as a number (``default`` when absent); anything else is a ``ConfigurationError`` naming it."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, not {value!r}")
    return float(value)


def _ldap(table: Any) -> Source:
    from .ldap import LdapConfig, LdapSource

    if not isinstance(table, Mapping) or "url" not in table or "base_dn" not in table:
        raise ConfigurationError("lookup.order names ldap: [lookup.ldap] needs url and base_dn")
    password = None
    if "password_env" in table:
        password = os.environ.get(str(table["password_env"]))
        if password is None:
            raise ConfigurationError(f"lookup.ldap.password_env: {table['password_env']} is not set")
    kwargs: dict[str, Any] = {"url": str(table["url"]), "base_dn": str(table["base_dn"]), "password": password}
    if "bind_dn" in table:
        kwargs["bind_dn"] = str(table["bind_dn"])
    if "filter" in table:
        kwargs["filter_template"] = str(table["filter"])
    if "timeout" in table:
        kwargs["timeout"] = _number(table, "timeout", 5.0, "lookup.ldap.timeout")
    return LdapSource(LdapConfig(**kwargs))


def _smimea(table: Any) -> Source:
    from .smimea import SmimeaConfig, SmimeaSource

    if not isinstance(table, Mapping) or "nameserver" not in table:
        raise ConfigurationError("lookup.order names smimea: [lookup.smimea] needs nameserver")
    return SmimeaSource(SmimeaConfig(
        nameserver=str(table["nameserver"]), port=int(_number(table, "port", 53, "lookup.smimea.port")),
        timeout=_number(table, "timeout", 5.0, "lookup.smimea.timeout"), tcp=bool(table.get("tcp", False)),
    ))


__all__ = ["lookup_from_settings", "lookup_sources"]

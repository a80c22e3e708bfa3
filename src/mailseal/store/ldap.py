"""Recipient certificates from an LDAP directory (RFC 4511 search, RFC 4515 filter escaping, RFC 4523 attributes).

The directory is searched for entries whose ``mail`` matches the address and their ``userSMIMECertificate``
(RFC 2798 §2.8: a PKCS#7 certs-only SignedData or, in practice, a bare DER certificate) and
``userCertificate;binary`` (RFC 4523 §2.1, with the ``;binary`` transfer option of RFC 4522) values are read.
The address is escaped with RFC 4515 §3 rules before it goes into the filter, so an address such as
``*)(mail=*`` matches nothing instead of everything. Values that do not parse are skipped with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import ldap3
from cryptography import x509
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from ..cms.identity import load_certificates
from ..errors import CertificateError, ConfigurationError
from .lookup import SkippedValue, SourceResult

#: RFC 2798 §2.8 and RFC 4523 §2.1 (``;binary`` per RFC 4522): where directories publish mail certificates.
DEFAULT_ATTRIBUTES: tuple[str, ...] = ("userSMIMECertificate", "userCertificate;binary")
DEFAULT_FILTER = "(mail={address})"
_SIZE_LIMIT_EXCEEDED = 4  # RFC 4511 §4.1.9 resultCode sizeLimitExceeded


def search_filter(template: str, address: str) -> str:
    """The search filter for ``address``: ``{address}`` in ``template`` replaced by the RFC 4515 §3 escaped form.

    ``str.replace`` rather than ``str.format``: a filter template may itself contain braces.
    """
    return template.replace("{address}", escape_filter_chars(address))


@dataclass(frozen=True)
class LdapConfig:
    """One LDAP directory: server URL, optional simple bind, base DN, filter template, attributes and limits."""

    url: str
    base_dn: str
    bind_dn: str | None = None
    password: str | None = None
    filter_template: str = DEFAULT_FILTER
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    timeout: float = 5.0
    size_limit: int = 20

    def __post_init__(self) -> None:
        if "{address}" not in self.filter_template:
            raise ConfigurationError("lookup.ldap.filter: the LDAP filter template must contain {address}")
        if not (self.filter_template.startswith("(") and self.filter_template.endswith(")")):
            raise ConfigurationError("lookup.ldap.filter: the LDAP filter template must be a parenthesised RFC 4515 "
                                     "filter")
        if not self.url.startswith(("ldap://", "ldaps://")):
            raise ConfigurationError("lookup.ldap.url: the LDAP server URL must start with ldap:// or ldaps://")
        if self.timeout <= 0 or self.size_limit <= 0:
            raise ConfigurationError("lookup.ldap.timeout: the LDAP timeout and size limit must be positive")
        if (self.bind_dn is None) != (self.password is None):
            raise ConfigurationError("lookup.ldap: give both bind_dn and password_env, or neither (anonymous bind)")


def parse_value(value: bytes) -> list[x509.Certificate]:
    """Certificates from one attribute value: a DER certificate or a PKCS#7 certs-only bundle."""
    return load_certificates(value)


class LdapSource:
    """Look up certificates for an address in one LDAP directory (blocking; one connection per search)."""

    def __init__(self, config: LdapConfig, name: str = "ldap") -> None:
        self.config = config
        self.name = name
        self.source = "ldap"

    def __repr__(self) -> str:
        return f"LdapSource({self.config.url!r}, base={self.config.base_dn!r})"

    def search(self, address: str) -> SourceResult:
        """Every certificate published for ``address``; a failure is reported in the result, never raised."""
        cfg = self.config
        query = search_filter(cfg.filter_template, address)
        server = ldap3.Server(cfg.url, connect_timeout=cfg.timeout, get_info=ldap3.NONE)
        try:
            conn = ldap3.Connection(server, user=cfg.bind_dn, password=cfg.password, receive_timeout=max(1, int(cfg.timeout)),
                                    read_only=True, raise_exceptions=False, auto_bind=ldap3.AUTO_BIND_NONE)
            try:
                conn.open()
                if not conn.bind():
                    return SourceResult(self.name, error=f"LDAP bind to {cfg.url} failed: {conn.result['description']}")
                conn.search(cfg.base_dn, query, search_scope=ldap3.SUBTREE, attributes=list(cfg.attributes),
                            size_limit=cfg.size_limit, time_limit=max(1, int(cfg.timeout)))
                result = conn.result
                entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
            finally:
                conn.unbind()
        except LDAPException as exc:
            return SourceResult(self.name, error=f"LDAP search on {cfg.url} failed: {exc}")
        problems: list[str] = []
        if result.get("result") == _SIZE_LIMIT_EXCEEDED:
            problems.append(f"more than {cfg.size_limit} entries match: only the first {cfg.size_limit} were read")
        elif result.get("result") not in (0, None):
            return SourceResult(self.name, error=f"LDAP search on {cfg.url} failed: {result.get('description')}")
        wanted = {a.lower() for a in cfg.attributes}
        certs: list[x509.Certificate] = []
        skipped: list[SkippedValue] = []
        for entry in entries:
            raw: dict[str, list[bytes]] = entry.get("raw_attributes", {})
            for attr, values in raw.items():
                if attr.lower() not in wanted:
                    continue
                for value in values:
                    try:
                        certs.extend(parse_value(value))
                    except (CertificateError, ValueError) as exc:
                        skipped.append(SkippedValue(f"{entry.get('dn', '')} {attr}", str(exc)))
        return SourceResult(self.name, tuple(certs), tuple(skipped), tuple(problems))


__all__ = ["DEFAULT_ATTRIBUTES", "DEFAULT_FILTER", "LdapConfig", "LdapSource", "parse_value", "search_filter"]

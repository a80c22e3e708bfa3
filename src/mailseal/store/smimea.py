"""Recipient certificates from DNS SMIMEA records (RFC 8162 §2 record format, §3 owner name; DANE fields RFC 6698 §2.1).

The owner name for ``local@domain`` is the SHA-256 of the local part (UTF-8, as it is: RFC 8162 §3 does no
canonicalisation), truncated to 28 octets, in hex, then ``._smimecert.`` and the domain. Each record carries a
certificate usage, a selector, a matching type and data (RFC 6698 §2.1.1-§2.1.4). Only selector 0 (full
certificate) with matching type 0 (exact match) carries a certificate that can be used to encrypt; records with a
SubjectPublicKeyInfo selector or a hash matching type only let a certificate obtained elsewhere be checked, so
they are reported (``unusable``) and produce no certificate here.

Without DNSSEC validation the answer is only as trustworthy as the path to the resolver: the found certificates
still go through the profile and path checks of :mod:`mailseal.store.lookup`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
from cryptography import x509

from ..errors import ConfigurationError, TemporaryError, UsageError
from .lookup import SkippedValue, SourceResult

#: RFC 8162 §3: the hash is truncated to 28 octets (224 bits).
OWNER_HASH_OCTETS = 28
SMIMEA_TYPE = 53  # RFC 8162 §2, IANA RR type


def owner_name(address: str) -> str:
    """The SMIMEA owner name for ``address`` (RFC 8162 §3), with a trailing dot."""
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain:
        raise UsageError(f"{address!r} is not an e-mail address (local@domain)")
    digest = hashlib.sha256(local.encode("utf-8")).digest()[:OWNER_HASH_OCTETS]
    # IDNA for the domain, so that an internationalised domain becomes its A-labels.
    domain_name = dns.name.from_text(domain.rstrip("."))
    return f"{digest.hex()}._smimecert.{domain_name.to_text()}"


class SmimeaQueryError(TemporaryError):
    """The nameserver answered with an error code other than NXDOMAIN (SERVFAIL, REFUSED...): code
    ``temporary-failure``, the answer may be different on a later try."""


@dataclass(frozen=True)
class SmimeaRecord:
    """One SMIMEA record's fields (RFC 6698 §2.1): usage, selector, matching type and association data."""

    usage: int
    selector: int
    matching_type: int
    data: bytes

    @property
    def carries_certificate(self) -> bool:
        """True for selector 0 / matching type 0: the data is the full DER certificate."""
        return self.selector == 0 and self.matching_type == 0

    def describe(self) -> str:
        return f"SMIMEA {self.usage} {self.selector} {self.matching_type} ({len(self.data)} octets)"


@dataclass(frozen=True)
class SmimeaConfig:
    """Where to ask: a nameserver IP and port (the system resolver is not used), a timeout, TCP or UDP."""

    nameserver: str
    port: int = 53
    timeout: float = 5.0
    tcp: bool = False

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigurationError("lookup.smimea.timeout: the DNS timeout must be positive")
        if not 0 < self.port < 65536:
            raise ConfigurationError("lookup.smimea.port: the DNS port must be between 1 and 65535")


class SmimeaSource:
    """Look up SMIMEA records for an address at one nameserver (blocking)."""

    def __init__(self, config: SmimeaConfig, name: str = "smimea") -> None:
        self.config = config
        self.name = name
        self.source = "smimea"

    def __repr__(self) -> str:
        return f"SmimeaSource({self.config.nameserver!r}, port={self.config.port})"

    def records(self, address: str) -> list[SmimeaRecord]:
        """The SMIMEA records published for ``address`` (empty when none). Raises ``SmimeaQueryError``, DNS or OS errors."""
        cfg = self.config
        query = dns.message.make_query(owner_name(address), dns.rdatatype.SMIMEA, want_dnssec=False)
        if cfg.tcp:
            response = dns.query.tcp(query, cfg.nameserver, timeout=cfg.timeout, port=cfg.port)
        else:
            response, _ = dns.query.udp_with_fallback(query, cfg.nameserver, timeout=cfg.timeout, port=cfg.port)
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return []
        if rcode != dns.rcode.NOERROR:
            raise SmimeaQueryError(f"the nameserver answered {dns.rcode.to_text(rcode)}")
        out: list[SmimeaRecord] = []
        for rrset in response.answer:
            if rrset.rdtype != dns.rdatatype.SMIMEA:
                continue
            for rdata in rrset:
                out.append(SmimeaRecord(int(rdata.usage), int(rdata.selector), int(rdata.mtype), bytes(rdata.cert)))
        return out

    def search(self, address: str) -> SourceResult:
        """Certificates from the full-certificate records for ``address``; other records are listed as skipped."""
        try:
            found = self.records(address)
        except (dns.exception.DNSException, SmimeaQueryError, OSError) as exc:
            return SourceResult(self.name, error=f"SMIMEA query to {self.config.nameserver} failed: {exc or type(exc).__name__}")
        certs: list[x509.Certificate] = []
        skipped: list[SkippedValue] = []
        for rec in found:
            if not rec.carries_certificate:
                skipped.append(SkippedValue(rec.describe(), "unusable: only selector 0 with matching type 0 carries "
                                                             "the certificate; this record can only check one"))
                continue
            try:
                certs.append(x509.load_der_x509_certificate(rec.data))
            except (ValueError, x509.InvalidVersion) as exc:
                skipped.append(SkippedValue(rec.describe(), f"the certificate cannot be read: {exc}"))
        return SourceResult(self.name, tuple(certs), tuple(skipped))


__all__ = ["OWNER_HASH_OCTETS", "SmimeaConfig", "SmimeaQueryError", "SmimeaRecord", "SmimeaSource", "owner_name"]

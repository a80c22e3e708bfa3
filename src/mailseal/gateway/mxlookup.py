"""Where a recipient domain's mail goes (RFC 5321 §5.1), and whether DNSSEC vouches for it (RFC 7672 §2.2).

MX records by preference (equal preferences in random order); without MX records the domain itself is the
host (implicit MX); a null MX (RFC 7505: one record, preference 0, host ``.``) means the domain takes no mail.
Each answer says whether the resolver validated it (its AD bit, trusted only when ``[gateway.dns] dane`` is set:
the resolver must validate and the path to it be safe). A SERVFAIL is what a validating resolver answers for a
bogus signature: the lookup fails and the delivery is deferred, never downgraded to an insecure one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from ..pki.dane import Tlsa
from .settings import DnsSettings, GatewaySettings


class DnsFailure(Exception):
    """The lookup itself failed (no answer, a timeout, SERVFAIL: a bogus signature at a validating resolver)."""


class NullMx(Exception):
    """The domain publishes a null MX (RFC 7505): it accepts no mail."""


class NoSuchDomain(Exception):
    """The domain does not exist (NXDOMAIN for its MX query)."""


@dataclass(frozen=True)
class Answer:
    records: tuple[object, ...]
    secure: bool  # validated (AD set by a trusted resolver): the whole CNAME chain too
    exists: bool  # False on NXDOMAIN
    canonical: str = ""  # the name at the end of the answer's CNAME chain (the name asked when there is none)


@dataclass(frozen=True)
class Addresses:
    """A host's addresses, whether they (and any CNAME chain to them) were validated, and the name the chain
    ends at (RFC 7672 §2.2.2: the "expanded name"; the host name itself without a CNAME)."""

    addresses: tuple[str, ...]
    secure: bool
    expanded: str


@dataclass(frozen=True)
class MxHost:
    name: str
    preference: int


@dataclass(frozen=True)
class Route:
    domain: str
    hosts: tuple[MxHost, ...]
    secure: bool  # the MX RRset (or its denial, for an implicit MX) was validated
    implicit: bool = False


def _nameserver(settings: DnsSettings) -> tuple[str, int]:
    if settings.resolver is not None:
        return settings.resolver
    servers = dns.resolver.get_default_resolver().nameservers
    if not servers:
        raise DnsFailure("no nameserver configured (set gateway.dns.resolver)")
    return str(servers[0]), 53


def _canonical(response: dns.message.Message, name: str) -> str:
    """Where the CNAME chain in response's answer section leads from name (name itself without one)."""
    current = dns.name.from_text(name)
    for _ in range(len(response.answer)):
        alias = next((r for r in response.answer if r.rdtype == dns.rdatatype.CNAME and r.name == current), None)
        if alias is None:
            break
        current = alias[0].target
    return str(current.to_text(omit_final_dot=True)).lower()


class SecureLookup:
    """Queries at one resolver, asking for its validation result (AD set in the query, RFC 6840 §5.7)."""

    def __init__(self, settings: DnsSettings) -> None:
        self.settings = settings

    def _ask(self, name: str, rdtype: dns.rdatatype.RdataType, dnssec: bool = False) -> dns.message.Message:
        host, port = _nameserver(self.settings)
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=dnssec)
        query.flags |= dns.flags.AD | dns.flags.RD
        try:
            response, _ = dns.query.udp_with_fallback(query, host, timeout=self.settings.timeout_seconds, port=port)
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsFailure(f"DNS lookup of {name} {dns.rdatatype.to_text(rdtype)} failed: {exc}") from None
        return response

    def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> Answer:
        """Blocking: run it in a thread from the event loop. Raises DnsFailure."""
        response = self._ask(name, rdtype)
        rcode = response.rcode()
        secure = self.settings.dane and bool(response.flags & dns.flags.AD)
        if rcode == dns.rcode.NXDOMAIN:
            return Answer((), secure, False)
        if rcode != dns.rcode.NOERROR:
            raise DnsFailure(f"DNS lookup of {name} {dns.rdatatype.to_text(rdtype)}: the resolver answered "
                             f"{dns.rcode.to_text(rcode)}" + (" (a bogus DNSSEC signature?)"
                                                              if rcode == dns.rcode.SERVFAIL else ""))
        records = tuple(r for rrset in response.answer if rrset.rdtype == rdtype for r in rrset)
        return Answer(records, secure, True, _canonical(response, name))

    def probe(self) -> str | None:
        """What is wrong with the resolver, one line, or None (blocking). It is asked for the DNSKEY RRset of
        ``probe_zone`` (the root by default) with DO set: it must answer with the keys and, when ``dane`` is set,
        with the AD bit. A resolver that stops validating (a configuration change, a lost trust anchor) would make
        every answer insecure and DANE would silently not apply (RFC 7672 §2.1.1): this says so instead."""
        zone = self.settings.probe_zone
        where = self.resolver_name()
        try:
            response = self._ask(zone, dns.rdatatype.DNSKEY, dnssec=True)
        except DnsFailure as exc:
            return f"{where}: {exc}"
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            return f"{where} answered {dns.rcode.to_text(rcode)} for {zone} DNSKEY" + \
                (" (a broken trust anchor or signature?)" if rcode == dns.rcode.SERVFAIL else "")
        if not any(rrset.rdtype == dns.rdatatype.DNSKEY for rrset in response.answer):
            return f"{where} gave no DNSKEY records for {zone} (gateway.dns.probe_zone must be a signed zone)"
        if self.settings.dane and not response.flags & dns.flags.AD:
            return (f"{where} does not validate DNSSEC (no AD bit on its answer for {zone} DNSKEY): "
                    f"DANE cannot apply")
        return None

    def resolver_name(self) -> str:
        """The resolver as host:port (the system's first nameserver when none is set)."""
        try:
            host, port = _nameserver(self.settings)
        except DnsFailure:
            return "(none)"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def route(self, domain: str) -> Route:
        """The MX hosts of domain in the order to try them. Raises DnsFailure, NullMx or NoSuchDomain."""
        domain = domain.lower().rstrip(".")
        answer = self.query(domain, dns.rdatatype.MX)
        if not answer.exists:
            raise NoSuchDomain(f"the domain {domain} does not exist")
        mx = [(int(r.preference), r.exchange.to_text(omit_final_dot=True).lower())  # type: ignore[attr-defined]
              for r in answer.records]
        if any(host in ("", ".") for _, host in mx):
            # RFC 7505 §3: a null MX is the only record; a domain mixing one with others is treated the same way.
            raise NullMx(f"the domain {domain} accepts no mail (null MX, RFC 7505)")
        if not mx:
            return Route(domain, (MxHost(domain, 0),), answer.secure, implicit=True)  # RFC 5321 §5.1
        random.shuffle(mx)  # equal preferences in random order (RFC 5321 §5.1), then by preference
        mx.sort(key=lambda item: item[0])
        seen: dict[str, MxHost] = {}
        for preference, host in mx:
            seen.setdefault(host, MxHost(host, preference))
        return Route(domain, tuple(seen.values()), answer.secure)

    def addresses(self, host: str) -> Addresses:
        """The host's IPv4 and IPv6 addresses, whether both answers were validated, and the name a CNAME chain
        leads to. Raises DnsFailure."""
        found: list[str] = []
        secure = True
        expanded = ""
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            answer = self.query(host, rdtype)
            secure = secure and answer.secure
            found += [str(r.address) for r in answer.records]  # type: ignore[attr-defined]
            expanded = expanded or (answer.canonical if answer.records else "")
        return Addresses(tuple(found), secure, expanded or host.lower().rstrip("."))

    def tlsa(self, host: str, port: int = 25) -> tuple[list[Tlsa], bool]:
        """The TLSA records at ``_PORT._tcp.HOST`` (RFC 7672 §2.2.3: always port 25's name for SMTP) and whether
        they were validated. Raises DnsFailure."""
        answer = self.query(f"_{port}._tcp.{host}", dns.rdatatype.TLSA)
        records = [Tlsa(int(r.usage), int(r.selector), int(r.mtype), bytes(r.cert))  # type: ignore[attr-defined]
                   for r in answer.records]
        return records, answer.secure


def resolver_problem(settings: GatewaySettings) -> str | None:
    """Standalone delivery: what is wrong with the DNS resolver, one line (None when it is fine, or when the
    gateway relays to a next hop and asks no DNS). Blocking."""
    if not settings.standalone:
        return None
    return SecureLookup(settings.dns).probe()


__all__ = ["Addresses", "Answer", "DnsFailure", "MxHost", "NoSuchDomain", "NullMx", "Route", "SecureLookup", "resolver_problem"]

"""Standalone delivery (``gateway.next_hop = "mx"``): each copy goes to its recipient domain's MX hosts, with DANE
(RFC 7672) or MTA-STS (RFC 8461) deciding how the TLS must look, all-or-nothing as in relay.py.

Per MX host, in order (mxlookup.py): when the MX RRset and the host's addresses are DNSSEC-secure (a trusted
validating resolver, ``[gateway.dns] dane``) and the host has secure TLSA records at ``_25._tcp.HOST`` (through a
secure CNAME chain: at the expanded name first, then the original, RFC 7672 §2.2.2), STARTTLS is mandatory and
the server's chain must match one usable record (pki/dane.py); with only unusable records it is mandatory but not
authenticated (RFC 7672 §2.2). DANE takes precedence over MTA-STS (RFC 8461 §2). Otherwise an MTA-STS policy in
enforce mode keeps only the MX hosts matching its patterns and requires STARTTLS with a certificate valid for the
host; testing mode logs what enforce would refuse. Otherwise ``[gateway.outbound_tls]`` applies as for a next hop
(opportunistic by default). A host that fails (no connection, a 4xx, a TLS check) is skipped for the next one;
when none is left the copy is deferred: 4.7.5 when a TLS requirement was the reason. A bogus answer (SERVFAIL
from the validator) defers; it never falls back to an insecure delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, replace

import aiosmtplib

from ..pki.dane import Tlsa, match_chain
from ..policy import DomainSet, domain_of
from . import status
from .mtasts import Policy
from .mxlookup import DnsFailure, MxHost, NoSuchDomain, NullMx, Route, SecureLookup
from .pacing import BulkLane
from .relay import Copy, DeliveryError, Journal, PoolKey, Relay
from .settings import DnsSettings, GatewaySettings, OutboundTls
from .tlsrpt import TlsFailure, TlsPolicy, TlsReportBook

log = logging.getLogger("mailseal.gateway")

# How one MX host must be spoken to: DANE with usable records; DANE with only unusable ones (encrypt, do not
# authenticate); MTA-STS enforce (verified certificate for the host); MTA-STS testing (try that, log, deliver
# anyway); or [gateway.outbound_tls] as for a next hop.
DANE, DANE_ENCRYPT, STS_ENFORCE, STS_TESTING, DEFAULT = "dane", "dane-encrypt", "sts-enforce", "sts-testing", "default"


class SecureTlsFailure(Exception):
    """A host did not give the TLS its TLSA records or its domain's MTA-STS policy require; ``result_type`` is
    the failure's name in a TLS report (RFC 8460 §4.3)."""

    def __init__(self, message: str, result_type: str = "validation-failure") -> None:
        super().__init__(message)
        self.result_type = result_type


def _handshake_failure(exc: BaseException, mode: str) -> str:
    """The RFC 8460 result type of a failed STARTTLS handshake."""
    text = str(exc).lower()
    if mode not in (STS_ENFORCE, STS_TESTING) or "certificate_verify_failed" not in text:
        return "validation-failure"
    if "hostname mismatch" in text or "doesn't match" in text:
        return "certificate-host-mismatch"
    if "expired" in text:
        return "certificate-expired"
    return "certificate-not-trusted"


def _chain_failure(problem: str) -> str:
    """The RFC 8460 result type of a chain that matched no TLSA record (pki/dane.py's sentences)."""
    if "validity dates" in problem:
        return "certificate-expired"
    if "checks the name" in problem:
        return "certificate-host-mismatch"
    return "validation-failure"


@dataclass(frozen=True)
class Plan:
    host: str
    addresses: tuple[str, ...]
    mode: str
    records: tuple[Tlsa, ...] = ()
    # DANE: the TLSA base domain (the SNI name, RFC 7672 §8.1) and the reference names for DANE-TA (§3.2.2).
    base: str = ""
    names: tuple[str, ...] = ()
    report: TlsPolicy | None = None  # the policy its sessions are counted under (TLS reporting, RFC 8460)


def _peer_chain(ssl_object: object) -> list[bytes]:
    """The certificates the server sent, leaf first, DER (unverified: DANE decides what they are worth)."""
    getter = getattr(ssl_object, "get_unverified_chain", None) or \
        getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                for c in chain]
    leaf = getattr(ssl_object, "getpeercert", lambda binary_form: None)(binary_form=True)
    return [leaf] if leaf else []


class MxRelay(Relay):
    """The relay of standalone mode: the same journal, pool and two-phase commit, a route per recipient domain."""

    def __init__(self, *, hostname: str, tls: OutboundTls, dns: DnsSettings, timeout: float, journal: Journal,
                 bulk: BulkLane | None = None, listen: tuple[str, int] | None = None,
                 local: tuple[tuple[str, int], DomainSet] | None = None,
                 reports: TlsReportBook | None = None) -> None:
        """``local``: the next hop for the accepted domains, and those domains (their MX is this gateway);
        ``reports``: where TLS sessions are counted for TLS reporting (tlsrpt.py)."""
        super().__init__("mx", dns.mx_port, hostname=hostname, tls=tls, timeout=timeout, journal=journal, bulk=bulk)
        self.lookup = SecureLookup(dns)
        self.reports = reports
        self.dane = dns.dane
        self.listen = listen  # our own address: an MX host there is this gateway
        self.local: Relay | None = None
        self.local_domains = DomainSet()
        if local is not None:
            (host, port), self.local_domains = local
            self.local = Relay(host, port, hostname=hostname, tls=tls, timeout=timeout, journal=journal,
                               bulk=self.bulk)
            self.local.pool = self.pool  # its keys (TLS required, verified) never equal an MX host's

    def _without_ourselves(self, route: Route) -> tuple[MxHost, ...]:
        """RFC 5321 §5.1: when this host is among the MX hosts, only those preferred to it may be used."""
        own = [h.preference for h in route.hosts if h.name == self.hostname.lower().rstrip(".")]
        if not own:
            return route.hosts
        hosts = tuple(h for h in route.hosts if h.preference < min(own))
        if not hosts:
            reason = f"mail for {route.domain} loops back to this host ({self.hostname} is its best MX)"
            log.warning("mx %s: %s", route.domain, reason)
            raise DeliveryError(reason, permanent=True, reply=status.routing_loop(reason))
        return hosts

    async def deliver(self, mail_from: str, copies: Sequence[Copy]) -> int:
        """As Relay.deliver; a copy for several domains is sent as one copy per domain (each to its own MX)."""
        split: list[Copy] = []
        whole: list[Copy] = []
        for copy in copies:
            by_domain: dict[str, list[str]] = {}
            for rcpt in copy.recipients:
                by_domain.setdefault(domain_of(rcpt), []).append(rcpt)
            if len(by_domain) == 1:
                split.append(copy)
                continue
            whole.append(copy)
            for domain, rcpts in sorted(by_domain.items()):
                key = hashlib.sha256(f"{copy.key}\0{domain}".encode()).hexdigest()
                split.append(Copy(rcpts, copy.file, key, copy.sender))
        sent = await super().deliver(mail_from, split)
        for copy in whole:  # every part was accepted: the copy as the service knows it is delivered
            await asyncio.get_running_loop().run_in_executor(None, self.journal.record, copy.key)
        return sent

    def _plan(self, route: Route, host: MxHost, policy: Policy | None) -> Plan:
        """How to reach host (blocking: DNS). Raises DnsFailure, or SecureTlsFailure for a bogus TLSA answer."""
        found = self.lookup.addresses(host.name)
        addresses = found.addresses
        if not addresses:
            raise DnsFailure(f"{host.name} has no address")
        if self.dane and route.secure and found.secure:
            # RFC 7672 §2.2.2: when the host name is a CNAME whose chain is secure all the way (the AD bit covers
            # the chain), TLSA records are asked at the expanded name first, then at the original; the first name
            # with records is the TLSA base domain. An insecure chain made found.secure false: no DANE at all.
            candidates = tuple(dict.fromkeys([found.expanded, host.name]))
            for base in candidates:
                try:
                    records, secure = self.lookup.tlsa(base)
                except DnsFailure as exc:
                    # RFC 7672 §2.2: a failed TLSA lookup of a secure host makes it unusable, not insecure.
                    raise SecureTlsFailure(f"TLSA lookup failed: {exc}", "dnssec-invalid") from None
                if not secure:
                    break  # an insecure TLSA answer: DANE does not apply to this host
                if records:
                    usable = tuple(r for r in records if r.usable)
                    report = TlsPolicy("tlsa", route.domain, tuple(
                        f"{r.usage} {r.selector} {r.matching_type} {r.data.hex()}" for r in records))
                    return Plan(host.name, addresses, DANE if usable else DANE_ENCRYPT, usable, base=base,
                                names=tuple(dict.fromkeys([base, *candidates])), report=report)
        if policy is not None and policy.mode in ("enforce", "testing"):
            report = TlsPolicy("sts", route.domain, ("version: STSv1", f"mode: {policy.mode}",
                                                     *(f"mx: {mx}" for mx in policy.mx), f"max_age: {policy.max_age}"),
                               policy.mx)
            return Plan(host.name, addresses, STS_ENFORCE if policy.mode == "enforce" else STS_TESTING,
                        report=report)
        return Plan(host.name, addresses, DEFAULT, report=TlsPolicy("no-policy-found", route.domain))

    async def _connect_to(self, address: str, plan: Plan, domain: str, mode: str) -> aiosmtplib.SMTP:
        """A connection to one address of an MX host with STARTTLS as mode requires. Raises SecureTlsFailure when a
        requirement is not met, aiosmtplib/OS errors for the rest."""
        required_by = {DANE: "its TLSA records", DANE_ENCRYPT: "its TLSA records",
                       STS_ENFORCE: f"the MTA-STS policy of {domain}"}.get(mode)
        required = required_by is not None or self.tls.required_for({domain})
        verify = mode in (STS_ENFORCE, STS_TESTING) or (mode == DEFAULT and required and self.tls.verify)
        smtp = aiosmtplib.SMTP(hostname=address, port=self.port, local_hostname=self.hostname, timeout=self.timeout,
                               start_tls=False)
        try:
            await smtp.connect()
            await smtp.ehlo()
            if mode == DEFAULT and self.tls.mode == "none" and not required:
                return smtp
            if not smtp.supports_extension("starttls"):
                if required_by is not None or mode == STS_TESTING:
                    raise SecureTlsFailure(f"no STARTTLS offered, which {required_by or 'the policy'} requires",
                                           "starttls-not-supported")
                if required:
                    raise DeliveryError(f"{plan.host} does not offer STARTTLS, which is required for {domain}")
                return smtp
            try:
                # DANE names the TLSA base domain in SNI (RFC 7672 §8.1); MTA-STS and the rest, the MX host.
                sni = plan.base if mode in (DANE, DANE_ENCRYPT) and plan.base else plan.host
                await smtp.starttls(tls_context=self._context(verify), server_hostname=sni)
            except (ssl.SSLError, aiosmtplib.SMTPException) as exc:
                if required_by is not None or mode == STS_TESTING:
                    raise SecureTlsFailure(f"STARTTLS failed: {exc}", _handshake_failure(exc, mode)) from None
                raise
            if mode == DANE:
                chain = _peer_chain(smtp.get_transport_info("ssl_object"))
                problem = match_chain(plan.records, chain, plan.names or (plan.host,))
                if problem is not None:
                    raise SecureTlsFailure(problem + (f" (TLSA base domain {plan.base})"
                                                      if plan.base and plan.base != plan.host else ""),
                                           _chain_failure(problem))
            await smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _open(self, copy: Copy, mail_from: str) -> tuple[aiosmtplib.SMTP, PoolKey]:
        domain = domain_of(copy.recipients[0])
        if self.local is not None and domain in self.local_domains:
            return await self.local._open(copy, mail_from)
        try:
            route = await asyncio.to_thread(self.lookup.route, domain)
        except NullMx as exc:
            raise DeliveryError(str(exc), permanent=True, reply=status.null_mx(str(exc))) from None
        except NoSuchDomain as exc:
            raise DeliveryError(str(exc), permanent=True, reply=status.no_such_domain(str(exc))) from None
        except DnsFailure as exc:
            log.warning("mx %s: %s; delivery deferred", domain, exc)
            raise DeliveryError(str(exc), reply=status.dns_failed(str(exc))) from None
        policy = await asyncio.to_thread(self.mta_sts.lookup, domain) if self.mta_sts is not None else None
        failures: list[str] = []
        secure_failure = False
        for host in self._without_ourselves(route):
            try:
                plan = await asyncio.to_thread(self._plan, route, host, policy)
            except (DnsFailure, SecureTlsFailure) as exc:
                secure_failure = secure_failure or isinstance(exc, SecureTlsFailure)
                if isinstance(exc, SecureTlsFailure):
                    await self._count(TlsPolicy("tlsa", domain), TlsFailure(exc.result_type, host.name, None, str(exc)))
                failures.append(f"{host.name}: {exc}")
                log.warning("mx %s: %s: %s; trying the next MX host", domain, host.name, exc)
                continue
            if plan.mode in (STS_ENFORCE, STS_TESTING) and policy is not None and not policy.matches(host.name):
                # A host with DANE TLSA records is not filtered: DANE takes precedence (RFC 8461 §2).
                log.warning("mta-sts %s (%s): the MX host %s matches none of the policy's mx patterns%s", domain,
                            policy.mode, host.name, "; skipped" if plan.mode == STS_ENFORCE else "")
                if plan.mode == STS_ENFORCE and plan.report is not None:
                    await self._count(plan.report, TlsFailure("validation-failure", host.name, None,
                                                              "the MX host matches none of the policy's mx patterns"))
                if plan.mode == STS_ENFORCE:
                    failures.append(f"{host.name}: not an mx of the MTA-STS policy ({', '.join(policy.mx)})")
                    secure_failure = True
                    continue
            for address in plan.addresses:
                if self.listen is not None and (address, self.port) == self.listen:
                    failures.append(f"{plan.host}[{address}]: this gateway's own address")
                    continue
                opened = await self._try(copy, mail_from, plan, address, domain, failures)
                if isinstance(opened, tuple):
                    return opened
                secure_failure = secure_failure or opened
        reason = f"{domain}: " + "; ".join(failures)
        log.warning("mx %s: no MX host took the copy; delivery deferred (%s)", domain, "; ".join(failures)[:500])
        raise DeliveryError(reason, reply=status.secure_tls_failed(reason) if secure_failure
                            else status.mx_unavailable(reason))

    async def _try(self, copy: Copy, mail_from: str, plan: Plan, address: str, domain: str,
                   failures: list[str]) -> tuple[aiosmtplib.SMTP, PoolKey] | bool:
        """The copy's transaction opened at one address, or whether the failure was a TLS requirement's."""
        mode = plan.mode
        where = f"{plan.host}[{address}]"
        key: PoolKey = (address, self.port, plan.host, mode, plan.records)
        pooled = await self._on_pooled(key, copy, mail_from)
        if pooled is not None:
            return pooled, key
        try:
            try:
                smtp = await self._connect_to(address, plan, domain, mode)
            except SecureTlsFailure as exc:
                if mode != STS_TESTING:
                    raise
                await self._count_failure(plan, exc, address)
                log.warning("mta-sts %s (testing): no verified STARTTLS with %s (%s); delivered anyway", domain,
                            plan.host, exc)
                mode = DEFAULT
                key = (address, self.port, plan.host, mode, ())
                smtp = await self._connect_to(address, plan, domain, mode)
        except SecureTlsFailure as exc:
            await self._count_failure(plan, exc, address)
            what = "dane" if mode in (DANE, DANE_ENCRYPT) else f"mta-sts {domain} (enforce)"
            log.warning("%s %s: %s; trying the next MX host", what, where, exc)
            failures.append(f"{where}: {exc}")
            return True
        except DeliveryError as exc:
            failures.append(f"{where}: {exc.message}")
            return False
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
            log.warning("mx %s: %s: %s; trying the next MX host", domain, where, exc)
            failures.append(f"{where}: {exc}")
            return False
        if mode == plan.mode:  # a session held to its policy (not MTA-STS testing's fallback, counted failed)
            await self._count_session(plan, smtp, address)
        try:
            await self._transaction(smtp, copy, mail_from)
        except DeliveryError as exc:
            smtp.close()
            if exc.permanent:
                raise
            failures.append(f"{where}: {exc.message}")
            return False
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            smtp.close()
            failures.append(f"{where}: {exc}")
            return False
        except BaseException:
            smtp.close()
            raise
        return smtp, key


    async def _count(self, policy: TlsPolicy, failure: TlsFailure | None) -> None:
        """Count a session for TLS reporting; a spool that cannot be written is logged and never stops mail."""
        if self.reports is None:
            return
        try:
            await asyncio.to_thread(self.reports.record, policy, failure)
        except (OSError, ValueError) as exc:
            log.warning("tlsrpt: could not count a session for %s (%s)", policy.domain, exc)

    async def _count_failure(self, plan: Plan, exc: SecureTlsFailure, address: str) -> None:
        if plan.report is not None:
            await self._count(plan.report, TlsFailure(exc.result_type, plan.host, address, str(exc)))

    async def _count_session(self, plan: Plan, smtp: aiosmtplib.SMTP, address: str) -> None:
        """A new session's outcome: success with TLS; without it, a failure only when STARTTLS was not offered
        (opportunistic TLS, no policy), none when TLS is switched off."""
        if plan.report is None:
            return
        if smtp.get_transport_info("ssl_object") is not None:
            await self._count(plan.report, None)
        elif self.tls.mode != "none" and not smtp.supports_extension("starttls"):
            await self._count(plan.report, TlsFailure("starttls-not-supported", plan.host, address))


def relay_for(settings: GatewaySettings, journal: Journal, bulk: BulkLane | None = None) -> Relay:
    """The relay the settings ask for: to the next hop, or to each domain's MX (standalone)."""
    if settings.standalone:
        tls = settings.outbound_tls
        if tls.mta_sts_nameserver is None and settings.dns.resolver is not None:
            tls = replace(tls, mta_sts_nameserver=settings.dns.resolver)  # one resolver for all of the route
        local = None if settings.local_next_hop is None else \
            (settings.local_next_hop, DomainSet.parse(settings.accepted_domains, "gateway.accepted_domains"))
        return MxRelay(hostname=settings.hostname, tls=tls, dns=settings.dns,
                       timeout=settings.relay_timeout_seconds, journal=journal, bulk=bulk, listen=settings.listen,
                       local=local, reports=TlsReportBook(settings.spool_dir / "tlsrpt"))
    assert settings.next_hop is not None
    return Relay(*settings.next_hop, hostname=settings.hostname, tls=settings.outbound_tls,
                 timeout=settings.relay_timeout_seconds, journal=journal, bulk=bulk)


__all__ = ["MxRelay", "relay_for"]

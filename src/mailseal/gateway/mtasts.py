"""MTA-STS (RFC 8461): a recipient domain's policy for the delivery of its mail, looked up, cached and applied.

A domain announces a policy with a TXT record at ``_mta-sts.DOMAIN`` (``v=STSv1; id=...``) and serves it at
``https://mta-sts.DOMAIN/.well-known/mta-sts.txt`` (``version``, ``mode``, ``mx`` patterns, ``max_age``). The
policy is fetched through the guarded fetcher (``pki/fetching.py``: no private addresses unless allowed, a time
and a size limit, no redirect — RFC 8461 §3.3 forbids following one), over HTTPS with a certificate valid for
``mta-sts.DOMAIN``; it is cached for ``max_age`` seconds and fetched again when the TXT ``id`` changes (§5.1).

In ``enforce`` mode a delivery needs an MX host matching one of the ``mx`` patterns and STARTTLS with a
certificate valid for that host (§4); otherwise the copy is deferred (4xx) and a line is logged. ``testing``
mode only logs; ``none`` applies nothing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from ..errors import MalformedInputError
from ..pki.fetching import FetchError, FetchPolicy, http_request
from .settings import MtaStsSettings

log = logging.getLogger("mailseal.gateway.mtasts")

MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31557600  # RFC 8461 §3.2: at most one year
POLICY_MAX_BYTES = 64 * 1024  # §3.3: a policy larger than 64 KiB is not a policy
_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_FIELD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_VERSION = re.compile(r"v[ \t]*=[ \t]*STSv1")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class MtaStsError(MalformedInputError):
    """A malformed ``_mta-sts`` TXT record or policy file (code ``malformed-input``): the sentence says what."""


@dataclass(frozen=True)
class Policy:
    """One parsed policy file (RFC 8461 §3.2)."""

    mode: str
    max_age: int
    mx: tuple[str, ...]
    id: str = ""  # the TXT record's id this policy was fetched under

    def matches(self, host: str) -> bool:
        """True when host matches one of the ``mx`` patterns (§4.1: ``*.`` stands for exactly one label)."""
        return any(mx_matches(pattern, host) for pattern in self.mx)


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


def mx_matches(pattern: str, host: str) -> bool:
    """Match an MX host name against one policy pattern; a wildcard replaces only the leftmost label."""
    pattern, host = _host(pattern), _host(host)
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return pattern == host


def parse_txt(records: Sequence[str]) -> str | None:
    """The policy id from the TXT strings at ``_mta-sts.DOMAIN`` (§3.1), or None when there is no STS record.

    Records not starting with ``v=STSv1`` are ignored; more than one STS record, or a malformed one, is an error
    (the domain then has no usable policy announcement)."""
    sts = [r for r in records if _VERSION.match(r.lstrip())]
    if not sts:
        return None
    if len(sts) > 1:
        raise MtaStsError(f"{len(sts)} _mta-sts TXT records start with v=STSv1; RFC 8461 §3.1 allows one")
    fields = [f.strip(" \t") for f in sts[0].strip(" \t").split(";")]
    if fields and fields[-1] == "":
        fields.pop()  # a trailing delimiter is allowed
    ident: str | None = None
    for item in fields[1:]:
        name, eq, value = item.partition("=")
        name, value = name.strip(" \t"), value.strip(" \t")
        if not eq or not _FIELD_NAME.fullmatch(name):
            raise MtaStsError(f"the _mta-sts TXT record has a malformed field {item!r} (expected name=value)")
        if name == "id":
            if ident is not None:
                raise MtaStsError("the _mta-sts TXT record has two id fields")
            if not _ID.fullmatch(value):
                raise MtaStsError(f"the _mta-sts TXT record's id {value!r} is not 1 to 32 letters and digits")
            ident = value
    if ident is None:
        raise MtaStsError("the _mta-sts TXT record has no id field")
    return ident


def _check_pattern(pattern: str) -> str:
    name = _host(pattern)
    labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise MtaStsError(f"the policy's mx pattern {pattern!r} is not a host name or *.domain")
    return name


def parse_policy(text: str | bytes, ident: str = "") -> Policy:
    """Parse a policy file (§3.2): ``key: value`` lines (LF or CRLF); unknown keys are ignored.

    ``version: STSv1``, ``mode`` and ``max_age`` are required once each; ``mx`` at least once unless the mode is
    ``none``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MtaStsError("the policy file is not UTF-8 text") from None
    if len(text) > POLICY_MAX_BYTES:
        raise MtaStsError(f"the policy file is larger than {POLICY_MAX_BYTES} bytes")
    single: dict[str, str] = {}
    mx: list[str] = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip(" \t"), value.strip(" \t")
        if not colon or not _FIELD_NAME.fullmatch(key):
            raise MtaStsError(f"line {number} of the policy file is not 'key: value': {line[:80]!r}")
        if key == "mx":
            mx.append(_check_pattern(value))
        elif key in ("version", "mode", "max_age"):
            if key in single:
                raise MtaStsError(f"the policy file gives {key} twice (line {number})")
            single[key] = value
    if single.get("version") != "STSv1":
        raise MtaStsError("the policy file has no 'version: STSv1' line" if "version" not in single
                          else f"the policy file's version {single['version']!r} is not STSv1")
    mode = single.get("mode")
    if mode not in MODES:
        raise MtaStsError("the policy file has no mode line" if mode is None
                          else f"the policy file's mode {mode!r} is not one of {', '.join(MODES)}")
    age = single.get("max_age")
    if age is None:
        raise MtaStsError("the policy file has no max_age line")
    if not age.isascii() or not age.isdigit() or len(age) > 10 or int(age) > MAX_AGE_LIMIT:
        raise MtaStsError(f"the policy file's max_age {age!r} is not a number of seconds up to {MAX_AGE_LIMIT}")
    if not mx and mode != "none":
        raise MtaStsError(f"the policy file has mode {mode} but no mx line")
    return Policy(mode, int(age), tuple(mx), ident)


def policy_url(domain: str, port: int = 443) -> str:
    host = f"mta-sts.{_host(domain)}"
    return f"https://{host}/.well-known/mta-sts.txt" if port == 443 else \
        f"https://{host}:{port}/.well-known/mta-sts.txt"


class DnsLookup:
    """TXT and address queries at one nameserver (dnspython), or the system's resolver for addresses."""

    def __init__(self, nameserver: tuple[str, int] | None, timeout: float) -> None:
        self.nameserver = nameserver
        self.timeout = timeout

    def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> list[str] | None:
        """The answers' text (None on NXDOMAIN). Raises OSError on a failure of the lookup itself."""
        if self.nameserver is None:
            try:
                answer = dns.resolver.resolve(name, rdtype, lifetime=self.timeout)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return None
            except dns.exception.DNSException as exc:
                raise OSError(f"DNS lookup of {name} failed: {exc}") from None
            return [_rdata_text(r) for r in answer]
        query = dns.message.make_query(name, rdtype)
        try:
            response, _ = dns.query.udp_with_fallback(query, self.nameserver[0], timeout=self.timeout,
                                                       port=self.nameserver[1])
        except (dns.exception.DNSException, OSError) as exc:
            raise OSError(f"DNS lookup of {name} failed: {exc}") from None
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return None
        if rcode != dns.rcode.NOERROR:
            raise OSError(f"DNS lookup of {name}: the nameserver answered {dns.rcode.to_text(rcode)}")
        return [_rdata_text(r) for rrset in response.answer if rrset.rdtype == rdtype for r in rrset]

    def txt(self, name: str) -> list[str]:
        return self._query(name, dns.rdatatype.TXT) or []

    def addresses(self, host: str, port: int) -> list[str]:
        found: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            found += self._query(host, rdtype) or []
        return found


def _rdata_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT: the character-strings joined (RFC 8461 §3.1 / RFC 7208 §3.3)
        return b"".join(strings).decode("utf-8", errors="replace")
    return str(getattr(rdata, "address", rdata))


@dataclass
class _Entry:
    policy: Policy
    fetched: float


@dataclass
class PolicyCache:
    """Policies by domain (§5.1): a cached policy stands until max_age; a new TXT id triggers a new fetch; when
    the TXT record or the fetch fails, an unexpired cached policy is still used."""

    settings: MtaStsSettings
    clock: Callable[[], float] = time.time
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fetches: int = 0  # how many policy files were fetched (for the tests and the log)

    def __post_init__(self) -> None:
        self.dns = DnsLookup(self.settings.nameserver, self.settings.timeout)
        self.fetch_policy = FetchPolicy(allowed_networks=self.settings.allowed_networks,
                                        timeout=self.settings.timeout, max_bytes=POLICY_MAX_BYTES,
                                        max_redirects=0, resolver=self.dns.addresses,
                                        ca_file=str(self.settings.ca_file) if self.settings.ca_file else None)

    def _cached(self, domain: str, now: float) -> Policy | None:
        with self._lock:
            entry = self._entries.get(domain)
            if entry is None or now - entry.fetched >= entry.policy.max_age:
                return None
            return entry.policy

    def fetch(self, domain: str, ident: str) -> Policy:
        """Fetch and parse the policy of domain (blocking). Raises FetchError or MtaStsError."""
        url = policy_url(domain, self.settings.policy_port)
        self.fetches += 1
        response = http_request(url, self.fetch_policy)
        if response.content_type != "text/plain":
            raise MtaStsError(f"{url} is served as {response.content_type or 'no type'}, not text/plain")
        return parse_policy(response.body, ident)

    def lookup(self, domain: str) -> Policy | None:
        """The policy in force for domain now, or None (blocking: run it in a thread from the event loop)."""
        domain = _host(domain)
        now = self.clock()
        cached = self._cached(domain, now)
        try:
            ident = parse_txt(self.dns.txt(f"_mta-sts.{domain}"))
        except (OSError, MtaStsError) as exc:
            log.warning("mta-sts %s: no usable TXT record (%s)%s", domain, exc, "; using the cached policy"
                        if cached else "")
            return cached
        if ident is None:
            return cached
        if cached is not None and cached.id == ident:
            return cached
        try:
            policy = self.fetch(domain, ident)
        except (FetchError, MtaStsError) as exc:
            log.warning("mta-sts %s: policy not fetched (%s)%s", domain, exc.message, "; using the cached policy"
                        if cached else "")
            return cached
        with self._lock:
            self._entries[domain] = _Entry(policy, now)
        log.info("mta-sts %s: policy id %s, mode %s, max_age %d", domain, ident, policy.mode, policy.max_age)
        return policy


def violation(policy: Policy | None, mx_host: str, tls_verified: bool) -> str | None:
    """Why a delivery to mx_host breaks the policy (None when it does not, or when there is no policy)."""
    if policy is None or policy.mode == "none":
        return None
    if not policy.matches(mx_host):
        return f"the MX host {_host(mx_host)} matches none of the policy's mx patterns ({', '.join(policy.mx)})"
    if not tls_verified:
        return f"STARTTLS with a certificate valid for {_host(mx_host)} is required"
    return None


__all__ = [
    "MODES",
    "DnsLookup",
    "MtaStsError",
    "MtaStsSettings",
    "Policy",
    "PolicyCache",
    "mx_matches",
    "parse_policy",
    "parse_txt",
    "policy_url",
    "violation",
]

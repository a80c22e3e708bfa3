"""Guarded fetching of CRLs (RFC 5280 §4.2.1.13), OCSP (RFC 6960 §A.1) and AIA issuers (RFC 5280 §4.2.2.1).

Low level: prefer ``ValidationContext(allow_fetching=True, fetch_policy=...)``.

The URLs come from certificates, which anyone can mint, so every request passes a guard first: only
``http``/``https``; the host name is resolved once and *every* address it resolves to must be public
(no loopback, private, link-local, multicast, reserved or unspecified address) unless the administrator
allows private targets (``allow_private``) or lists the networks in ``allowed_networks``; the connection then
goes to one of the checked addresses (no second resolution, so DNS rebinding cannot slip past the guard).
Responses are bounded by a timeout and a size cap, and a validation makes a bounded number of requests.

The backend plugs into pyhanko-certvalidator as a ``FetcherBackend``; the blocking stdlib HTTP client runs in a
worker thread (``asyncio.to_thread``) so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

from ..errors import ErrorCode, MailsealError
from .revocation import RevocationCache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
FetchKind = Literal["crl", "ocsp", "cert"]

#: Stable reasons a fetch was refused by the policy (before any connection) or failed.
REFUSAL_REASONS = ("scheme", "no-host", "private-address", "unresolvable", "budget")
FAILURE_REASONS = ("network", "timeout", "http-status", "too-large", "redirect", "content")

_REDIRECTS = (301, 302, 303, 307, 308)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchPolicy:
    """What mailseal may fetch: schemes, target addresses, time and size limits, request budget."""

    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()  # CIDR blocks allowed even though they are not public
    timeout: float = 10.0  # seconds, per connection and for reading the whole response
    max_bytes: int = 10 * 1024 * 1024  # a response larger than this is refused
    max_requests: int = 32  # per validation: a hostile chain cannot make mailseal crawl the web
    max_redirects: int = 2
    ca_file: str | None = None  # anchors for https (default: the system's)
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.max_bytes <= 0 or self.max_requests < 0 or self.max_redirects < 0:
            raise ValueError("FetchPolicy limits must be positive")
        for net in self.allowed_networks:
            ipaddress.ip_network(net, strict=False)  # fail at construction on a typo, not at fetch time

    @property
    def networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)


class FetchError(MailsealError):
    """A fetch that was refused by the policy (``refused``: no connection was attempted) or that failed."""

    code = ErrorCode.IO

    def __init__(self, url: str, reason: str, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason
        self.refused = refused


@dataclass(frozen=True)
class FetchEvent:
    """One fetch attempt, for the report and the tests: what, where, and how it ended."""

    kind: FetchKind
    url: str
    outcome: str  # "fetched" | "cached" | "refused" | "failed"
    detail: str = ""
    reason: str = ""


@dataclass(frozen=True)
class FetchResponse:
    status: int
    content_type: str
    body: bytes


def public_address(addr: IPAddress) -> bool:
    """True for an address on the public Internet (RFC 6890 special-purpose registries excluded)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return public_address(addr.ipv4_mapped)
    return not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


def check_target(url: str, policy: FetchPolicy) -> tuple[str, int, str, list[str]]:
    """Apply the policy to url: (scheme, port, host, checked addresses). Raises a refusal FetchError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(url, "scheme", f"refused to fetch {url}: only http and https are fetched", refused=True)
    host = parts.hostname
    if not host:
        raise FetchError(url, "no-host", f"refused to fetch {url}: the URL names no host", refused=True)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError(url, "no-host", f"refused to fetch {url}: the port is not a number", refused=True) from None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = list(policy.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise FetchError(url, "unresolvable", f"cannot resolve {host}: {exc}", refused=True) from None
    if not addresses:
        raise FetchError(url, "unresolvable", f"{host} resolves to no address", refused=True)
    networks = policy.networks
    for text in addresses:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
        if public_address(addr) or policy.allow_private or any(addr in net for net in networks):
            continue
        raise FetchError(
            url,
            "private-address",
            f"refused to fetch {url}: {host} resolves to {addr}, which is not a public address "
            "(allow private targets or list the network to permit it)",
            refused=True,
        )
    return scheme, port, host, addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand; the Host header keeps the URL's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, cafile: str | None = None) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context(cafile=cafile))
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def http_request(
    url: str,
    policy: FetchPolicy,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
) -> FetchResponse:
    """GET (or POST when body is given) url under the policy; follows a few redirects for GET, each checked."""
    current = url
    for _hop in range(policy.max_redirects + 1):
        scheme, port, host, addresses = check_target(current, policy)
        parts = urlsplit(current)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        deadline = time.monotonic() + policy.timeout
        last_error: Exception | None = None
        for address in addresses:
            conn: http.client.HTTPConnection
            if scheme == "https":
                conn = _PinnedHTTPSConnection(host, port, address, policy.timeout, policy.ca_file)
            else:
                conn = _PinnedHTTPConnection(host, port, address, policy.timeout)
            try:
                headers = {"User-Agent": "mailseal", "Accept": "*/*", "Connection": "close"}
                if content_type:
                    headers["Content-Type"] = content_type
                conn.request("POST" if body is not None else "GET", target, body=body, headers=headers)
                resp = conn.getresponse()
                if resp.status in _REDIRECTS and body is None:
                    location = resp.getheader("Location")
                    if not location:
                        raise FetchError(current, "redirect", f"{current}: redirect without a Location", refused=False)
                    current = urljoin(current, location)
                    break
                length = resp.getheader("Content-Length")
                if length and length.isdigit() and int(length) > policy.max_bytes:
                    raise FetchError(current, "too-large", f"{current}: the response is {length} bytes, more than "
                                     f"the limit of {policy.max_bytes}", refused=False)
                chunks: list[bytes] = []
                size = 0
                while True:
                    if time.monotonic() > deadline:
                        raise FetchError(current, "timeout", f"{current}: no complete answer within "
                                         f"{policy.timeout:g} s", refused=False)
                    chunk = resp.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > policy.max_bytes:
                        raise FetchError(current, "too-large", f"{current}: the response exceeds the limit of "
                                         f"{policy.max_bytes} bytes", refused=False)
                    chunks.append(chunk)
                if resp.status != 200:
                    raise FetchError(current, "http-status", f"{current}: HTTP status {resp.status}", refused=False)
                ctype = (resp.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
                return FetchResponse(resp.status, ctype, b"".join(chunks))
            except FetchError:
                raise
            except TimeoutError as exc:
                last_error = FetchError(current, "timeout", f"{current}: timed out ({exc})", refused=False)
            except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                last_error = FetchError(current, "network", f"{current}: {type(exc).__name__}: {exc}", refused=False)
            finally:
                conn.close()
        else:
            assert last_error is not None
            raise last_error
    raise FetchError(url, "redirect", f"{url}: more than {policy.max_redirects} redirects", refused=False)


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, url: str) -> None:
        if self.used >= self.limit:
            raise FetchError(url, "budget", f"refused to fetch {url}: the limit of {self.limit} requests per "
                             "validation is reached", refused=True)
        self.used += 1


class FetchSession:
    """State the three fetchers of one backend share: policy, cache, clock, budget and the event log."""

    def __init__(self, policy: FetchPolicy, cache: RevocationCache | None, moment: datetime,
                 events: list[FetchEvent]) -> None:
        self.policy = policy
        self.cache = cache
        self.moment = moment
        self.budget = _Budget(policy.max_requests)
        self.events = events

    async def get(self, kind: FetchKind, url: str, body: bytes | None = None,
                  content_type: str | None = None) -> FetchResponse:
        try:
            self.budget.charge(url)
            response = await asyncio.to_thread(http_request, url, self.policy, body=body,
                                               content_type=content_type)
        except FetchError as exc:
            self.events.append(FetchEvent(kind, url, "refused" if exc.refused else "failed", exc.message,
                                          exc.reason))
            raise
        self.events.append(FetchEvent(kind, url, "fetched", f"{len(response.body)} bytes"))
        return response


__all__ = [
    "FAILURE_REASONS",
    "REFUSAL_REASONS",
    "FetchError",
    "FetchEvent",
    "FetchPolicy",
    "FetchResponse",
    "check_target",
    "http_request",
    "public_address",
    "system_resolver",
]

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
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
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
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
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
            conn_cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
            conn = conn_cls(host, port, address, policy.timeout)
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


class _Shared:
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


def _fetchers_api() -> Any:
    # Imported lazily: pyhanko-certvalidator is heavy and signing never needs it.
    from pyhanko_certvalidator.fetchers import api

    return api


def build_fetchers(shared: _Shared) -> Any:
    """pyhanko ``Fetchers`` (CRL, OCSP, certificate) backed by the guarded client."""
    from asn1crypto import crl as a_crl
    from asn1crypto import ocsp as a_ocsp
    from asn1crypto import pem
    from pyhanko_certvalidator import errors as ph_errors
    from pyhanko_certvalidator.fetchers import common_utils as cu
    from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps, issuer_serial

    api = _fetchers_api()

    class CRLFetcher(api.CRLFetcher):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self._by_cert: dict[bytes, list[Any]] = {}
            self._all: dict[bytes, Any] = {}
            self._failed: dict[bytes, Exception] = {}  # a failure is not retried within one validation

        async def _one(self, url: str) -> Any:
            if shared.cache is not None:
                cached = shared.cache.get_crl(url, shared.moment)
                if cached is not None:
                    shared.events.append(FetchEvent("crl", url, "cached", "fresh CRL from the disk cache"))
                    return a_crl.CertificateList.load(cached)
            try:
                data = (await shared.get("crl", url)).body
                if pem.detect(data):
                    _, _, data = pem.unarmor(data)
                # A full parse on a throw-away copy, so garbage fails here and not deep in validation; the
                # received bytes are what is cached and validated (a parsed object may re-encode).
                a_crl.CertificateList.load(data).native  # noqa: B018
                parsed = a_crl.CertificateList.load(data)
            except FetchError as exc:
                raise ph_errors.CRLFetchError(exc.message) from exc
            except ValueError as exc:
                shared.events.append(FetchEvent("crl", url, "failed", f"not a CRL: {exc}", "content"))
                raise ph_errors.CRLFetchError(f"{url} did not return a CRL") from exc
            if shared.cache is not None:
                shared.cache.put_crl(url, data)
            return parsed

        async def fetch(self, cert: Any, *, use_deltas: bool | None = True) -> list[Any]:
            key = issuer_serial(cert)
            if key in self._by_cert:
                return self._by_cert[key]
            if key in self._failed:
                raise self._failed[key]
            urls = [u for dp in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas))
                    for u in cu.enumerate_delivery_point_urls(dp)]
            results: list[Any] = []
            last: Exception | None = None
            for url in urls:
                try:
                    got = await self._one(url)
                except ph_errors.CRLFetchError as exc:
                    last = exc
                    continue
                results.append(got)
                self._all[got.sha256] = got
            if not results and last is not None:
                self._failed[key] = last
                raise last
            self._by_cert[key] = results
            return results

        def fetched_crls(self) -> Iterable[Any]:
            return list(self._all.values())

        def fetched_crls_for_cert(self, cert: Any) -> Iterable[Any]:
            return self._by_cert[issuer_serial(cert)]

    class OCSPFetcher(api.OCSPFetcher):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self._results: dict[tuple[bytes, Any], Any] = {}
            self._failed: dict[tuple[bytes, Any], Exception] = {}

        async def fetch(self, cert: Any, authority: Any) -> Any:
            tag = (issuer_serial(cert), authority.hashable)
            if tag in self._results:
                return self._results[tag]
            if tag in self._failed:
                raise self._failed[tag]
            try:
                return await self._fetch(cert, authority, tag)
            except ph_errors.OCSPFetchError as exc:
                self._failed[tag] = exc
                raise

        async def _fetch(self, cert: Any, authority: Any, tag: tuple[bytes, Any]) -> Any:
            # No nonce: responses are cached on disk and pre-produced responses (RFC 5019) carry none.
            request = cu.format_ocsp_request(cert, authority, certid_hash_algo="sha1", request_nonces=False)
            cache_key = request["tbs_request"]["request_list"][0]["req_cert"].dump()
            urls = list(get_ocsp_urls(cert))
            if not urls:
                raise ph_errors.OCSPFetchError("the certificate names no OCSP responder")
            last: Exception | None = None
            for url in urls:
                if shared.cache is not None:
                    cached = shared.cache.get_ocsp(url, cache_key, shared.moment)
                    if cached is not None:
                        shared.events.append(FetchEvent("ocsp", url, "cached", "fresh OCSP response from the cache"))
                        response = a_ocsp.OCSPResponse.load(cached)
                        self._results[tag] = response
                        return response
                try:
                    got = await shared.get("ocsp", url, request.dump(), "application/ocsp-request")
                    response = cu.process_ocsp_response_data(got.body, ocsp_request=request, ocsp_url=url)
                except FetchError as exc:
                    last = ph_errors.OCSPFetchError(exc.message)
                    continue
                except ph_errors.OCSPValidationError as exc:
                    shared.events.append(FetchEvent("ocsp", url, "failed", str(exc), "content"))
                    last = ph_errors.OCSPFetchError(str(exc))
                    continue
                if shared.cache is not None:
                    shared.cache.put_ocsp(url, cache_key, response.dump())
                self._results[tag] = response
                return response
            raise last or ph_errors.OCSPFetchError("no OCSP response")

        def fetched_responses(self) -> Iterable[Any]:
            return list(self._results.values())

        def fetched_responses_for_cert(self, cert: Any) -> Iterable[Any]:
            wanted = issuer_serial(cert)
            return [r for (iss, _), r in self._results.items() if iss == wanted]

    class CertFetcher(api.CertificateFetcher):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self._certs: dict[bytes, Any] = {}
            self._done: set[str] = set()

        async def _from(self, urls: Iterable[str]) -> AsyncGenerator[Any, None]:
            for url in list(urls)[:4]:
                if url in self._done:
                    continue
                self._done.add(url)
                try:
                    got = await shared.get("cert", url)
                    certs = list(cu.unpack_cert_content(got.body, got.content_type or None, url, True))
                except FetchError:
                    continue
                except ValueError as exc:
                    shared.events.append(FetchEvent("cert", url, "failed", f"not a certificate: {exc}", "content"))
                    continue
                for c in certs:
                    self._certs[c.sha256] = c
                    yield c

        def fetch_cert_issuers(self, cert: Any) -> AsyncGenerator[Any, None]:
            return self._from(cu.gather_aia_issuer_urls(cert))

        def fetch_crl_issuers(self, certificate_list: Any) -> AsyncGenerator[Any, None]:
            return self._from(u for u in certificate_list.issuer_cert_urls if u.startswith("http"))

        def fetched_certs(self) -> Iterable[Any]:
            return list(self._certs.values())

    return api.Fetchers(ocsp_fetcher=OCSPFetcher(), crl_fetcher=CRLFetcher(), cert_fetcher=CertFetcher())


class GuardedFetcherBackend:
    """A pyhanko-certvalidator fetcher backend that enforces a FetchPolicy and uses a disk cache.

    ``events`` lists every attempt (fetched, cached, refused, failed), in order.
    """

    def __init__(self, policy: FetchPolicy, cache: RevocationCache | None, moment: datetime) -> None:
        self.policy = policy
        self.cache = cache
        self.moment = moment
        self.events: list[FetchEvent] = []

    def get_fetchers(self) -> Any:
        return build_fetchers(_Shared(self.policy, self.cache, self.moment, self.events))

    async def close(self) -> None:
        return None


__all__ = [
    "FAILURE_REASONS",
    "REFUSAL_REASONS",
    "FetchError",
    "FetchEvent",
    "FetchPolicy",
    "FetchResponse",
    "GuardedFetcherBackend",
    "check_target",
    "http_request",
    "public_address",
    "system_resolver",
]

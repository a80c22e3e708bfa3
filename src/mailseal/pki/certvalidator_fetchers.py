"""The pyhanko-certvalidator fetchers (CRL, OCSP, AIA issuer certificate) backed by the guarded HTTP client.

Low level: path validation (``mailseal.pki.validation``) imports this module only when a validation fetches, so
pyhanko-certvalidator, heavy and never needed to sign, is only loaded then. ``GuardedFetcherBackend`` is the
backend it hands pyhanko.

Every fetcher of one backend shares a ``FetchSession``: the policy, the disk cache, the validation moment, the
request budget and the event log. A failure is not retried within one validation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Any

from asn1crypto import crl as a_crl
from asn1crypto import ocsp as a_ocsp
from asn1crypto import pem
from asn1crypto import x509 as a_x509
from pyhanko_certvalidator import errors as ph_errors
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.fetchers import api
from pyhanko_certvalidator.fetchers import common_utils as cu
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps, issuer_serial

from .fetching import FetchError, FetchEvent, FetchPolicy, FetchSession
from .revocation import RevocationCache, parse_crl


class GuardedCRLFetcher(api.CRLFetcher):
    """CRLs from the certificate's distribution points (RFC 5280 §4.2.1.13), through the disk cache."""

    def __init__(self, session: FetchSession) -> None:
        self._session = session
        self._by_cert: dict[bytes, list[a_crl.CertificateList]] = {}
        self._all: dict[bytes, a_crl.CertificateList] = {}
        self._failed: dict[bytes, Exception] = {}

    async def _one(self, url: str) -> a_crl.CertificateList:
        session = self._session
        if session.cache is not None:
            cached = session.cache.load_crl(url, session.moment)
            if cached is not None:
                session.events.append(FetchEvent("crl", url, "cached", "fresh CRL from the disk cache"))
                return cached
        try:
            data = (await session.get("crl", url)).body
            if pem.detect(data):
                _, _, data = pem.unarmor(data)
            # Parsed once, all of it, so garbage fails here and not deep in validation.
            parsed = parse_crl(data)
        except FetchError as exc:
            raise ph_errors.CRLFetchError(exc.message) from exc
        except ValueError as exc:
            session.events.append(FetchEvent("crl", url, "failed", f"not a CRL: {exc}", "content"))
            raise ph_errors.CRLFetchError(f"{url} did not return a CRL") from exc
        if session.cache is not None:
            session.cache.put_crl(url, data, parsed)
        return parsed

    async def fetch(self, cert: a_x509.Certificate, *, use_deltas: bool | None = True) -> list[a_crl.CertificateList]:
        key = issuer_serial(cert)
        if key in self._by_cert:
            return self._by_cert[key]
        if key in self._failed:
            raise self._failed[key]
        urls = [u for dp in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas))
                for u in cu.enumerate_delivery_point_urls(dp)]
        results: list[a_crl.CertificateList] = []
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

    def fetched_crls(self) -> Iterable[a_crl.CertificateList]:
        return list(self._all.values())

    def fetched_crls_for_cert(self, cert: a_x509.Certificate) -> Iterable[a_crl.CertificateList]:
        return self._by_cert[issuer_serial(cert)]


class GuardedOCSPFetcher(api.OCSPFetcher):
    """OCSP responses (RFC 6960 §A.1, POST) from the certificate's AIA responders, through the disk cache."""

    def __init__(self, session: FetchSession) -> None:
        self._session = session
        self._results: dict[tuple[bytes, Any], a_ocsp.OCSPResponse] = {}
        self._failed: dict[tuple[bytes, Any], Exception] = {}

    async def fetch(self, cert: a_x509.Certificate, authority: Authority) -> a_ocsp.OCSPResponse:
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

    async def _fetch(self, cert: a_x509.Certificate, authority: Authority,
                     tag: tuple[bytes, Any]) -> a_ocsp.OCSPResponse:
        session = self._session
        # No nonce: responses are cached on disk and pre-produced responses (RFC 5019) carry none.
        request = cu.format_ocsp_request(cert, authority, certid_hash_algo="sha1", request_nonces=False)
        cache_key = request["tbs_request"]["request_list"][0]["req_cert"].dump()
        urls = list(get_ocsp_urls(cert))
        if not urls:
            raise ph_errors.OCSPFetchError("the certificate names no OCSP responder")
        last: Exception | None = None
        for url in urls:
            if session.cache is not None:
                cached = session.cache.get_ocsp(url, cache_key, session.moment)
                if cached is not None:
                    session.events.append(FetchEvent("ocsp", url, "cached", "fresh OCSP response from the cache"))
                    response = a_ocsp.OCSPResponse.load(cached)
                    self._results[tag] = response
                    return response
            try:
                got = await session.get("ocsp", url, request.dump(), "application/ocsp-request")
            except FetchError as exc:
                last = ph_errors.OCSPFetchError(exc.message)
                continue
            try:
                response = ocsp_response(got.body, request, url)
            except ph_errors.OCSPValidationError as exc:
                session.events.append(FetchEvent("ocsp", url, "failed", str(exc), "content"))
                last = ph_errors.OCSPFetchError(str(exc))
                continue
            if session.cache is not None:
                session.cache.put_ocsp(url, cache_key, response.dump())
            self._results[tag] = response
            return response
        raise last or ph_errors.OCSPFetchError("no OCSP response")

    def fetched_responses(self) -> Iterable[a_ocsp.OCSPResponse]:
        return list(self._results.values())

    def fetched_responses_for_cert(self, cert: a_x509.Certificate) -> Iterable[a_ocsp.OCSPResponse]:
        wanted = issuer_serial(cert)
        return [r for (iss, _), r in self._results.items() if iss == wanted]


def ocsp_response(body: bytes, request: a_ocsp.OCSPRequest, url: str) -> a_ocsp.OCSPResponse:
    """A fetched OCSP response, checked as far as the fetcher can: ``OCSPValidationError`` for anything that is
    not a successful response to ``request``. pyhanko's check reads the status of a lazily loaded structure, so a
    malformed body fails there with asn1crypto's ValueError (found by fuzzing, tests/fuzz): refused the same way."""
    try:
        response = cu.process_ocsp_response_data(body, ocsp_request=request, ocsp_url=url)
        basic = response.basic_ocsp_response
        if basic is None:
            raise ValueError("a successful response without its response bytes")
        basic.native  # noqa: B018 - parsed now, so garbage fails here and not in validation
    except ph_errors.OCSPFetchError as exc:
        raise ph_errors.OCSPValidationError(str(exc)) from exc
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        # asn1crypto's errors on malformed input, each found by fuzzing: AttributeError for a universal type it
        # cannot decode (ObjectDescriptor, REAL), IndexError for an empty BIT STRING
        raise ph_errors.OCSPValidationError(f"{url} did not return an OCSP response: {exc!r}") from exc
    return response


class GuardedCertFetcher(api.CertificateFetcher):
    """Issuer certificates from AIA caIssuers URLs (RFC 5280 §4.2.2.1): at most four URLs per certificate."""

    def __init__(self, session: FetchSession) -> None:
        self._session = session
        self._certs: dict[bytes, a_x509.Certificate] = {}
        self._done: set[str] = set()

    async def _from(self, urls: Iterable[str]) -> AsyncGenerator[a_x509.Certificate, None]:
        session = self._session
        for url in list(urls)[:4]:
            if url in self._done:
                continue
            self._done.add(url)
            try:
                got = await session.get("cert", url)
                certs = list(cu.unpack_cert_content(got.body, got.content_type or None, url, True))
            except FetchError:
                continue
            except ValueError as exc:
                session.events.append(FetchEvent("cert", url, "failed", f"not a certificate: {exc}", "content"))
                continue
            for c in certs:
                self._certs[c.sha256] = c
                yield c

    def fetch_cert_issuers(self, cert: a_x509.Certificate) -> AsyncGenerator[a_x509.Certificate, None]:
        return self._from(cu.gather_aia_issuer_urls(cert))

    def fetch_crl_issuers(self, certificate_list: a_crl.CertificateList) -> AsyncGenerator[a_x509.Certificate, None]:
        return self._from(u for u in certificate_list.issuer_cert_urls if u.startswith("http"))

    def fetched_certs(self) -> Iterable[a_x509.Certificate]:
        return list(self._certs.values())


def build_fetchers(session: FetchSession) -> api.Fetchers:
    """pyhanko ``Fetchers`` whose three fetchers share session."""
    return api.Fetchers(ocsp_fetcher=GuardedOCSPFetcher(session), crl_fetcher=GuardedCRLFetcher(session),
                        cert_fetcher=GuardedCertFetcher(session))


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
        """pyhanko ``Fetchers`` (CRL, OCSP, certificate) backed by the guarded client."""
        return build_fetchers(FetchSession(self.policy, self.cache, self.moment, self.events))

    async def close(self) -> None:
        return None


__all__ = ["GuardedCRLFetcher", "GuardedCertFetcher", "GuardedFetcherBackend", "GuardedOCSPFetcher", "build_fetchers"]

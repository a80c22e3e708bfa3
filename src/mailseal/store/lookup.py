"""Recipient certificate lookup in an admin-set order: local directory, LDAP, DNS SMIMEA (RFC 8550 §3, RFC 8162).

``CertificateLookup.find(address)`` asks each source in turn and stops at the first one that yields a usable
certificate. Usable means: the S/MIME profile allows encryption to that address (RFC 8550 §3 address match,
RFC 8550 §4.4 key usage, via :func:`mailseal.pki.check_certificate`) and, when the validation context has trust
anchors, the RFC 5280 §6 path validates (status ``valid``). Certificates found remotely are kept in memory for
``ttl`` seconds and filed in the directory with their source (``ldap`` / ``smimea``); a directory entry from a
remote source counts as local only while it was seen within ``ttl``, so a certificate withdrawn from the
directory server stops being used once the TTL has run out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from cryptography import x509

from ..cms.names import name_text
from ..pki.profile import check_certificate, normalize_address
from ..pki.status import SignerStatus
from ..pki.validation import ValidationContext, validate_path
from .directory import Directory

log = logging.getLogger(__name__)

LOCAL: Literal["local"] = "local"
#: Directory sources that are copies of a remote answer and therefore expire with the TTL.
REMOTE_SOURCES = ("ldap", "smimea")
DEFAULT_TTL = 3600.0


@dataclass(frozen=True)
class SkippedValue:
    """A value a source returned that gave no certificate: where it was, and why."""

    where: str
    reason: str


@dataclass(frozen=True)
class SourceResult:
    """What one source returned for one address: certificates (not yet judged), skipped values, problems."""

    source: str
    certificates: tuple[x509.Certificate, ...] = ()
    skipped: tuple[SkippedValue, ...] = ()
    problems: tuple[str, ...] = ()
    error: str | None = None


class Source(Protocol):
    """A remote source: ``source`` is the directory label (``ldap`` or ``smimea``); ``search`` never raises."""

    name: str
    source: str

    def search(self, address: str) -> SourceResult: ...


@dataclass(frozen=True)
class Refusal:
    """A certificate a source returned that is not used, with the reasons."""

    source: str
    subject: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class LookupResult:
    """The outcome of one lookup: the usable certificates, where they came from, and what was refused or failed."""

    address: str
    certificates: tuple[x509.Certificate, ...]
    source: str | None  # "local", a source's name, or None when nothing usable was found
    cached: bool = False
    consulted: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()
    skipped: tuple[SkippedValue, ...] = ()
    errors: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # the sources that did not answer (their errors are in ``errors``)


@dataclass
class _Trace:
    consulted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    skipped: list[SkippedValue] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class CertificateLookup:
    """Find encryption certificates for an address: sources in order, first usable hit wins, remote hits cached.

    ``sources`` lists :data:`LOCAL` (the directory) and remote sources (:class:`mailseal.store.ldap.LdapSource`,
    :class:`mailseal.store.smimea.SmimeaSource`) in the order to ask them. ``clock`` (monotonic seconds) is a
    parameter so that tests can move time.
    """

    def __init__(self, directory: Directory | None, sources: Sequence[Source | Literal["local"]] = (LOCAL,), *,
                 context: ValidationContext | None = None, ttl: float = DEFAULT_TTL, store_found: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        for source in sources:
            if isinstance(source, str) and source != LOCAL:
                raise ValueError(f"unknown lookup source {source!r}: give {LOCAL!r} or a source object")
        if directory is None and (LOCAL in sources or store_found):
            raise ValueError("the local source and store_found need a directory")
        self.directory = directory
        self.sources = tuple(sources)
        self.context = context
        self.ttl = ttl
        self.store_found = store_found
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, LookupResult]] = {}

    def find(self, address: str) -> list[x509.Certificate]:
        """The usable certificates for ``address`` from the first source that has any (empty when none has)."""
        return list(self.lookup(address).certificates)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def lookup(self, address: str) -> LookupResult:
        """Like :meth:`find`, with where the certificates came from and what was refused, skipped or failed."""
        addr = normalize_address(address)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(addr)
            if hit is not None and hit[0] <= now:
                del self._cache[addr]
                hit = None
        if hit is not None:
            cached = hit[1]
            # Re-judged on the way out: a certificate may have expired since it was cached.
            usable = tuple(c for c in cached.certificates if self._usable(c, addr, (), _Trace(), cached.source or ""))
            if usable:
                return LookupResult(addr, usable, cached.source, cached=True, consulted=cached.consulted)
        trace = _Trace()
        for source in self.sources:
            if source == LOCAL:
                trace.consulted.append(LOCAL)
                found = self._local(addr, trace)
                if found:
                    return self._result(addr, found, LOCAL, trace)
                continue
            assert not isinstance(source, str)
            trace.consulted.append(source.name)
            answer = source.search(addr)
            trace.skipped.extend(answer.skipped)
            if answer.error is not None:
                log.warning("certificate lookup for %s: %s", addr, answer.error)
                trace.errors.append(answer.error)
                trace.failed.append(source.name)
                continue
            trace.errors.extend(answer.problems)
            found = [c for c in answer.certificates
                     if self._usable(c, addr, answer.certificates, trace, source.name)]
            if found:
                result = self._result(addr, found, source.name, trace)
                if self.ttl > 0:
                    with self._lock:
                        self._cache[addr] = (now + self.ttl, result)
                if self.store_found and self.directory is not None:
                    for cert in found:
                        self.directory.add(cert, source.source, actor="lookup")
                return result
        return self._result(addr, [], None, trace)

    # -- helpers -------------------------------------------------------------------------------------

    def _at(self) -> datetime:
        return self.context.at() if self.context is not None else datetime.now(UTC)

    def _local(self, addr: str, trace: _Trace) -> list[x509.Certificate]:
        assert self.directory is not None
        at = self._at()
        fresh_after = datetime.now(UTC) - timedelta(seconds=self.ttl)
        out: list[x509.Certificate] = []
        for entry in self.directory.find(addr):
            last_seen = entry.last_seen if entry.last_seen.tzinfo else entry.last_seen.replace(tzinfo=UTC)
            if entry.source in REMOTE_SOURCES and last_seen < fresh_after:
                # A stale copy of a remote answer: ask the remote source again rather than trust it forever.
                continue
            if not entry.not_before <= at <= entry.not_after:
                continue
            cert = entry.certificate
            if self._usable(cert, addr, (), trace, LOCAL):
                out.append(cert)
        return out

    def _usable(self, cert: x509.Certificate, addr: str, extra: Sequence[x509.Certificate], trace: _Trace,
                source: str) -> bool:
        at = self.context.at() if self.context is not None else None
        verdict = check_certificate(cert, email=addr, at=at)
        if not verdict.can_encrypt:
            if verdict.addresses:  # CA and chain certificates in a bundle are not worth reporting
                trace.refused.append(Refusal(source, name_text(cert.subject), tuple(verdict.reasons_encrypt)))
            return False
        if self.context is not None and self.context.has_anchors:
            others = [c for c in extra if c is not cert]
            path = validate_path(cert, others, self.context)
            if path.status != SignerStatus.VALID:
                trace.refused.append(Refusal(source, name_text(cert.subject),
                                             (f"the certificate path is {path.status}", *path.reasons[-1:])))
                return False
        return True

    @staticmethod
    def _result(addr: str, found: Sequence[x509.Certificate], source: str | None, trace: _Trace) -> LookupResult:
        return LookupResult(addr, tuple(found), source, False, tuple(trace.consulted), tuple(trace.refused),
                            tuple(trace.skipped), tuple(trace.errors), tuple(trace.failed))


__all__ = [
    "DEFAULT_TTL",
    "LOCAL",
    "REMOTE_SOURCES",
    "CertificateLookup",
    "LookupResult",
    "Refusal",
    "SkippedValue",
    "Source",
    "SourceResult",
]

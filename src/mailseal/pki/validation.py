"""RFC 5280 §6 path validation through pyhanko-certvalidator, with results as statuses rather than exceptions.

Covers signatures, validity, basic constraints, name constraints (rfc822Name included), certificate policies with
the four initial inputs of RFC 5280 §6.1.1 (c, e, f, g), key usage of CA certificates, and revocation from CRLs
(full, delta, indirect; §6.3) and OCSP (RFC 6960).

Revocation modes:

* ``off``: no revocation check (``revocation`` is ``not-checked``).
* ``soft-fail``: every certificate below the anchor is checked against the CRLs and OCSP responses given,
  cached or fetched; a revoked certificate makes the path ``revoked``; a certificate whose status cannot be
  established leaves the path valid but with ``revocation`` ``unknown`` and a reason "revocation unknown: ...".
* ``hard-fail``: the status of every certificate below the anchor must be established; otherwise the status is
  ``revocation-unknown`` (not valid).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..cms.algorithms import LEGACY_SIGNATURE_HASHES, legacy_algorithms
from ..cms.identity import fingerprint
from ..cms.inherited_keys import dsa_parameters, inherited_from, received_der
from ..cms.names import asn1_name_text, name_text
from ..errors import UnsupportedAlgorithmError
from .fetching import FetchEvent, FetchPolicy
from .revocation import RevocationCache, RevocationState
from .status import SignerStatus
from .truststore import TrustStore

if TYPE_CHECKING:
    from .certvalidator_fetchers import GuardedFetcherBackend

RevocationMode = Literal["off", "soft-fail", "hard-fail"]
REVOCATION_MODES: tuple[RevocationMode, ...] = ("off", "soft-fail", "hard-fail")
ANY_POLICY = "2.5.29.32.0"
T = TypeVar("T")


def _policy_id(value: str) -> str:
    """An OID of user-initial-policy-set in pyhanko's spelling ("any_policy" for anyPolicy)."""
    text = value.strip()
    if text in ("anyPolicy", "any_policy", ANY_POLICY):
        return "any_policy"
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{value!r} is not a certificate policy OID (dotted numbers, or anyPolicy)")
    return text


@dataclass(frozen=True)
class ValidationContext:
    """Everything a trust decision depends on, passed explicitly: anchors, intermediates, time, revocation.

    ``policies`` is RFC 5280's user-initial-policy-set (dotted OIDs; ``anyPolicy`` by default) and
    ``explicit_policy``, ``inhibit_policy_mapping``, ``inhibit_any_policy`` are the other initial inputs.
    ``check_address`` False skips the From/certificate address check (RFC 8550 §3) for test suites whose
    certificates carry no address. ``allow_legacy`` names the legacy algorithms accepted by explicit choice
    (``cms.algorithms.LEGACY_ALGORITHMS``: DSA, SHA-1, RSA from 1024 bits, ...), for reading archives.
    """

    trust: TrustStore = field(default_factory=TrustStore)
    moment: datetime | None = None
    revocation_mode: RevocationMode = "soft-fail"
    crls: tuple[bytes, ...] = ()
    allow_fetching: bool = False
    ocsps: tuple[bytes, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    cache_dir: Path | None = None
    policies: tuple[str, ...] = ("anyPolicy",)
    explicit_policy: bool = False
    inhibit_policy_mapping: bool = False
    inhibit_any_policy: bool = False
    check_address: bool = True
    allow_legacy: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.revocation_mode not in REVOCATION_MODES:
            raise ValueError(f"revocation_mode must be one of {', '.join(REVOCATION_MODES)}")
        if not self.policies:
            raise ValueError("the user-initial-policy-set is empty: give anyPolicy or at least one OID")
        for oid in self.policies:
            _policy_id(oid)
        if self.moment is not None and self.moment.utcoffset() is None:
            raise ValueError("moment must be timezone-aware")
        try:
            legacy_algorithms(self.allow_legacy)
        except UnsupportedAlgorithmError as exc:
            raise ValueError(exc.message) from None
        if isinstance(self.allow_legacy, str):
            raise ValueError("allow_legacy must be a set of names, e.g. frozenset({'dsa', 'sha1'})")

    def allows(self, legacy: str) -> bool:
        """Whether the legacy algorithm ``legacy`` ("dsa", "sha1", "rsa1024", "3des", "rc2") is accepted."""
        return legacy in self.allow_legacy

    @property
    def has_anchors(self) -> bool:
        return bool(self.trust.anchors)

    def at(self) -> datetime:
        return self.moment or datetime.now(UTC)

    def pkix_params(self) -> Any:
        """The four RFC 5280 §6.1.1 initial inputs as pyhanko ``PKIXValidationParams``."""
        from pyhanko_certvalidator.policy_decl import PKIXValidationParams

        return PKIXValidationParams(
            user_initial_policy_set=frozenset(_policy_id(p) for p in self.policies),
            initial_explicit_policy=self.explicit_policy,
            initial_policy_mapping_inhibit=self.inhibit_policy_mapping,
            initial_any_policy_inhibit=self.inhibit_any_policy,
        )


@dataclass(frozen=True)
class PathResult:
    """The outcome of validating one certificate's path: status, the chain found, the reasons, revocation."""

    trusted: bool
    # valid | untrusted | expired | not-yet-valid | revoked | revocation-unknown | weak-algorithm
    status: SignerStatus
    chain: tuple[x509.Certificate, ...]
    reasons: tuple[str, ...]
    revocation: RevocationState = "not-checked"
    revocation_reason: str = ""
    fetches: tuple[FetchEvent, ...] = ()


def _a(cert: x509.Certificate) -> a_x509.Certificate:
    # As received: a DSA certificate that inherits its parameters is validated as it was signed, not as the
    # completed copy pyca could load (cms.inherited_keys).
    return a_x509.Certificate.load(received_der(cert))


@functools.cache
def _signature_validator() -> Any:
    """pyhanko's signature validator, with DSA keys that inherit their parameters completed first: pyhanko
    inherits them along a path, but not for the CRLs such a CA signs (PKITS 4.1.5)."""
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

    from ..cms.inherited_keys import with_parameters

    class _Inheriting(DefaultSignatureValidator):
        def validate_signature(self, signature: bytes, signed_data: bytes, public_key_info: Any,
                               signature_algorithm: Any, *args: Any, **kwargs: Any) -> None:
            super().validate_signature(signature, signed_data, with_parameters(public_key_info),
                                       signature_algorithm, *args, **kwargs)

    return _Inheriting()


def _algorithm_policy(context: ValidationContext) -> Any:
    """pyhanko-certvalidator's algorithm usage policy: MD2 and MD5 always refused; SHA-1 left to mailseal's own
    judgement (weak-algorithm, not untrusted); RSA from 2048 and DSA from 3072 bits, or from 1024 bits when the
    legacy algorithm is allowed."""
    from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

    return DisallowWeakAlgorithmsPolicy(  # type: ignore[no-untyped-call]
        weak_hash_algos=frozenset({"md2", "md5"}),
        rsa_key_size_threshold=1024 if context.allows("rsa1024") else 2048,
        dsa_key_size_threshold=1024 if context.allows("dsa") else 3072,
    )


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop: run on a private loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _subject(cert: a_x509.Certificate | x509.Certificate) -> str:
    if isinstance(cert, x509.Certificate):
        return name_text(cert.subject)
    return asn1_name_text(cert.subject)


@functools.lru_cache(maxsize=8)
def _parsed_crls(crls: tuple[bytes, ...]) -> tuple[Any, ...]:
    # Parsed once per set of CRLs: a PKITS run validates hundreds of paths against the same 170 CRLs.
    from asn1crypto import crl as a_crl
    from pyhanko_certvalidator.revinfo.archival import CRLContainer

    out = []
    for der in crls:
        try:
            out.append(CRLContainer(a_crl.CertificateList.load(der)))
        except ValueError:
            continue
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _parsed_ocsps(ocsps: tuple[bytes, ...]) -> tuple[Any, ...]:
    from asn1crypto import ocsp as a_ocsp
    from pyhanko_certvalidator.revinfo.archival import OCSPContainer

    out: list[Any] = []
    for der in ocsps:
        try:
            out.extend(OCSPContainer.load_multi(a_ocsp.OCSPResponse.load(der)))
        except ValueError:
            continue
    return tuple(out)


class _Attempt:
    """One pyhanko validation run with a given revocation policy and non-revocation assertions."""

    def __init__(self, cert: x509.Certificate, others: Sequence[x509.Certificate], context: ValidationContext,
                 fetchers: Any) -> None:
        self.cert = cert
        self.others = others
        self.context = context
        self.fetchers = fetchers
        self.ph: Any = None
        self.originals: dict[int, x509.Certificate] = {}

    def _fresh(self, cert: x509.Certificate) -> a_x509.Certificate:
        # Fresh asn1crypto objects for every run: asn1crypto may re-encode a parsed certificate (a BIT STRING's
        # unused bits), so an object one run has read must not be signature-checked by the next.
        obj = _a(cert)
        self.originals[id(obj)] = cert
        return obj

    def chain(self, path: Any) -> tuple[x509.Certificate, ...]:
        """The path leaf first, as the certificates received (never re-encoded); fetched ones from their DER."""
        return tuple(self.originals.get(id(c)) or x509.load_der_x509_certificate(c.dump())
                     for c in reversed(list(path)))

    def run(self, check_revocation: bool, assertions: Sequence[Any]) -> Any:
        from pyhanko_certvalidator import CertificateValidator
        from pyhanko_certvalidator import ValidationContext as _PHContext
        from pyhanko_certvalidator.context import bootstrap_validation_data_handlers
        from pyhanko_certvalidator.policy_decl import (
            NO_REVOCATION,
            REQUIRE_REVINFO,
            CertRevTrustPolicy,
        )

        ctx = self.context
        self.originals = {}
        handlers = bootstrap_validation_data_handlers(
            fetchers=self.fetchers if check_revocation else None,
            crls=_parsed_crls(ctx.crls) if check_revocation else (),
            ocsps=_parsed_ocsps(ctx.ocsps) if check_revocation else (),
            certs=[self._fresh(c) for c in self.others],
            nonrevoked_assertions=assertions,
        )
        self.ph = _PHContext(
            trust_roots=[self._fresh(c) for c in ctx.trust.anchors],
            moment=ctx.at(),
            revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO if check_revocation else NO_REVOCATION),
            algorithm_usage_policy=_algorithm_policy(ctx),
            signature_validator=_signature_validator(),
            certificate_registry=handlers.cert_registry,
            revinfo_manager=handlers.revinfo_manager,
        )
        validator = CertificateValidator(self._fresh(self.cert), validation_context=self.ph, pkix_params=ctx.pkix_params())
        return _run(validator.async_validate_path())

    def failing_cert(self, exc: Any) -> a_x509.Certificate | None:
        """The certificate of the main path whose revocation check failed: the first one not yet validated."""
        path = getattr(exc, "original_path", None)
        if path is None or self.ph is None:
            return None
        for cert in path.iter_certs(include_root=False):
            if self.ph.check_validation(cert) is None:
                return cert
        return None


def _failure(status: SignerStatus, cert: x509.Certificate, reason: str, revocation: RevocationState = "not-checked",
             revocation_reason: str = "", fetches: tuple[FetchEvent, ...] = ()) -> PathResult:
    return PathResult(False, status, (cert,), (reason,), revocation, revocation_reason, fetches)


def _classify(exc: Exception, cert: x509.Certificate) -> PathResult:
    """The one place that turns pyhanko-certvalidator exceptions into statuses."""
    from pyhanko_certvalidator import errors as ph_errors

    if isinstance(exc, ph_errors.RevokedError):
        return _failure(SignerStatus.REVOKED, cert, f"a certificate in the chain is revoked: {exc}", "revoked", str(exc))
    if isinstance(exc, ph_errors.ExpiredError):
        return _failure(SignerStatus.EXPIRED, cert, f"a certificate in the chain has expired: {exc}")
    if isinstance(exc, ph_errors.NotYetValidError):
        return _failure(SignerStatus.NOT_YET_VALID, cert, f"a certificate in the chain is not yet valid: {exc}")
    if isinstance(exc, ph_errors.DisallowedAlgorithmError):
        return _failure(SignerStatus.WEAK_ALGORITHM, cert, f"the chain uses a refused algorithm: {exc}")
    if isinstance(exc, ph_errors.PathBuildingError):
        return _failure(SignerStatus.UNTRUSTED, cert, "no chain leads from the certificate to a trusted anchor")
    if isinstance(exc, ph_errors.PathValidationError | ph_errors.ValidationError):
        return _failure(SignerStatus.UNTRUSTED, cert, f"the chain does not validate: {exc}")
    # A malformed certificate in the chain must not crash verification.
    return _failure(SignerStatus.UNTRUSTED, cert, f"the chain could not be validated: {exc}")


@functools.lru_cache(maxsize=8)
def _x509_crls(crls: tuple[bytes, ...]) -> tuple[x509.CertificateRevocationList, ...]:
    # Parsed once per set of CRLs, like _parsed_crls, not once per validation that falls back to them.
    out = []
    for raw in crls:
        try:
            out.append(x509.load_der_x509_crl(raw) if raw[:1] == b"\x30" else x509.load_pem_x509_crl(raw))
        except ValueError:
            continue
    return tuple(out)


def _revoked_by_given_crls(chain: Sequence[x509.Certificate], context: ValidationContext) -> str | None:
    """Soft-fail fallback when pyhanko cannot complete the revocation check of the whole path (e.g. an
    intermediate without CRL): look each certificate up in the CRLs given, signed by its issuer."""
    crls = _x509_crls(context.crls)
    for cert, issuer in itertools.pairwise(chain):
        for crl in crls:
            if crl.issuer != issuer.subject:
                continue
            try:
                if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                    continue
            except Exception:
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and entry.revocation_date_utc <= context.at():
                return f"{_subject(cert)} is revoked since {entry.revocation_date_utc.isoformat()} (CRL of {_subject(issuer)})"
    return None


def _fetcher_setup(context: ValidationContext) -> tuple[Any, GuardedFetcherBackend | None]:
    if not context.allow_fetching:
        return None, None
    from .certvalidator_fetchers import GuardedFetcherBackend  # pyhanko-certvalidator: loaded when fetching

    cache = RevocationCache(context.cache_dir) if context.cache_dir is not None else None
    backend = GuardedFetcherBackend(context.fetch_policy, cache, context.at())
    return backend.get_fetchers(), backend


CACHE_SIZE = 1024
CACHE_TTL = 60.0  # seconds a result for "now" is reused: a gateway sees the same signers again and again
_cache: OrderedDict[tuple[Any, ...], tuple[ValidationContext, float, PathResult]] = OrderedDict()


def _context_key(context: ValidationContext) -> tuple[Any, ...]:
    """What a path result depends on, cheaply: large members by identity (kept alive by the cached context)."""
    return (
        id(context.trust), context.moment, context.revocation_mode, context.allow_fetching, id(context.crls),
        id(context.ocsps), id(context.intermediates), context.cache_dir, context.policies, context.explicit_policy,
        context.inhibit_policy_mapping, context.inhibit_any_policy, context.fetch_policy, context.allow_legacy,
    )
_cache_lock = threading.Lock()


_fingerprint = lru_cache(maxsize=2048)(fingerprint)  # the cache key of a path: computed once per certificate


def validate_path(
    cert: x509.Certificate, extra: Sequence[x509.Certificate], context: ValidationContext
) -> PathResult:
    """Validate cert to one of the context's anchors at the context's moment. Never raises for a bad path.

    Results are cached per context object for a minute (or for good at a fixed validation time), and never past
    the end of a certificate's validity, so the per-message cost on a busy server is a dictionary lookup.
    """
    key = (_context_key(context), _fingerprint(cert), tuple(_fingerprint(c) for c in extra))
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        cached = hit[0] if hit is not None else None
        if (
            hit is not None and cached is not None and hit[1] > now and cached.trust is context.trust
            and cached.crls is context.crls and cached.ocsps is context.ocsps
            and cached.intermediates is context.intermediates
        ):
            _cache.move_to_end(key)
            return hit[2]
    result = _validate_path(cert, extra, context)
    ttl = CACHE_TTL
    if context.moment is None:
        at = context.at()
        remaining = min((c.not_valid_after_utc - at).total_seconds() for c in result.chain) if result.chain else 0
        ttl = min(ttl, remaining)
    if ttl > 0:
        with _cache_lock:
            _cache[key] = (context, now + ttl, result)
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return result


def _validate_path(
    cert: x509.Certificate, extra: Sequence[x509.Certificate], context: ValidationContext
) -> PathResult:
    if not context.has_anchors:
        return PathResult(False, SignerStatus.UNTRUSTED, (cert,), ("no trust anchors were given, so no chain can be trusted",))
    from pyhanko_certvalidator import errors as ph_errors
    from pyhanko_certvalidator.policy_decl import NonRevokedStatusAssertion

    others = [*context.trust.intermediates, *context.intermediates, *extra]
    fetchers, backend = _fetcher_setup(context)
    attempt = _Attempt(cert, others, context, fetchers)

    def events() -> tuple[FetchEvent, ...]:
        return tuple(backend.events) if backend is not None else ()

    mode = context.revocation_mode
    nothing_to_check = not context.crls and not context.ocsps and fetchers is None
    unknown: list[str] = []
    revocation: RevocationState
    if mode == "off" or (mode == "soft-fail" and nothing_to_check):
        try:
            path = attempt.run(False, ())
        except Exception as exc:
            return _classify(exc, cert)
        if mode == "off":
            revocation, why = "not-checked", "revocation checking is off"
        else:
            revocation, why = "unknown", "no CRL or OCSP response was given and fetching is off"
            unknown.append(why)
    else:
        assertions: list[Any] = []
        while True:
            try:
                path = attempt.run(True, assertions)
                break
            except ph_errors.InsufficientRevinfoError as exc:
                failing = attempt.failing_cert(exc)
                text = str(exc)
                repeated = failing is not None and any(
                    getattr(a, "cert_sha256", None) == failing.sha256 for a in assertions
                )
                if mode == "hard-fail" or failing is None or repeated or len(assertions) > 16:
                    problems = "; ".join(f"{e.url}: {e.detail}" for e in events() if e.outcome in ("refused", "failed"))
                    reason = text + (f" ({problems})" if problems else "")
                    if mode == "hard-fail":
                        return _failure(SignerStatus.REVOCATION_UNKNOWN, cert,
                                        f"revocation unknown (hard-fail): {reason}", "unknown", reason, events())
                    # Soft-fail but the failing certificate cannot be singled out: judge the path without
                    # revocation and say the revocation status is unknown.
                    try:
                        path = attempt.run(False, ())
                    except Exception as inner:
                        return _classify(inner, cert)
                    revoked = _revoked_by_given_crls(attempt.chain(path), context)
                    if revoked:
                        return _failure(SignerStatus.REVOKED, cert, revoked, "revoked", revoked, events())
                    unknown.append(reason)
                    break
                # Soft-fail: take this certificate's status as unknown and go on checking the others.
                unknown.append(f"{_subject(failing)}: {text}")
                assertions.append(NonRevokedStatusAssertion(failing.sha256, context.at()))
            except Exception as exc:
                result = _classify(exc, cert)
                return PathResult(result.trusted, result.status, result.chain, result.reasons,
                                  result.revocation, result.revocation_reason, events())
        revocation, why = ("unknown", "; ".join(dict.fromkeys(unknown))) if unknown else ("good", "")
    chain = attempt.chain(path)
    borrowed = _borrowed_parameters_problem(chain)
    if borrowed is not None:
        return _failure(SignerStatus.UNTRUSTED, cert, borrowed, revocation, why, events())
    reasons = [f"chain: {' <- '.join(_subject(c) for c in chain)}"]
    fetched = [f"{e.outcome} {e.url}: {e.detail}" for e in events() if e.outcome in ("refused", "failed")]
    if revocation == "good":
        reasons.append("revocation: every certificate in the chain is known not to be revoked")
    elif revocation == "unknown":
        reasons.append(f"revocation unknown: {why}" + (f" ({'; '.join(fetched)})" if fetched else ""))
    weak_hashes = ("md5",) if context.allows("sha1") else ("sha1", "md5")
    weak = [c for c in chain[:-1] if _signature_hash(c) in weak_hashes]
    if weak:
        return PathResult(True, SignerStatus.WEAK_ALGORITHM, chain,
                          (*reasons, f"{_subject(weak[0])} is signed with {_signature_hash(weak[0])}"),
                          revocation, why, events())
    return PathResult(True, SignerStatus.VALID, chain, tuple(reasons), revocation, why, events())


def _signature_hash(cert: x509.Certificate) -> str | None:
    """The hash of the certificate's signature algorithm by name; for an algorithm pyca does not name, the hash
    cms.algorithms knows it by, else "unknown"."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return LEGACY_SIGNATURE_HASHES.get(cert.signature_algorithm_oid.dotted_string, "unknown")
    return None if algorithm is None else algorithm.name


def _borrowed_parameters_problem(chain: Sequence[x509.Certificate]) -> str | None:
    """A certificate whose DSA key inherits its parameters must have taken them from its issuer in this path:
    otherwise the message's signature was checked with parameters the path does not certify."""
    for cert, issuer in itertools.pairwise(chain):
        taken = inherited_from(cert)
        if taken is not None and taken != (inherited_from(issuer) or dsa_parameters(issuer)):
            return (f"{_subject(cert)} inherits DSA parameters from a certificate that is not its issuer in the "
                    "validated path")
    return None


__all__ = ["ANY_POLICY", "REVOCATION_MODES", "PathResult", "RevocationMode", "ValidationContext", "validate_path"]

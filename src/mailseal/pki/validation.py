"""RFC 5280 path validation through pyhanko-certvalidator, with results as statuses rather than exceptions."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .truststore import TrustStore

RevocationMode = Literal["off", "soft-fail", "hard-fail"]
T = TypeVar("T")


@dataclass(frozen=True)
class ValidationContext:
    """Everything a trust decision depends on, passed explicitly: anchors, intermediates, time, revocation."""

    trust: TrustStore = field(default_factory=TrustStore)
    moment: datetime | None = None
    revocation_mode: RevocationMode = "soft-fail"
    crls: tuple[bytes, ...] = ()
    allow_fetching: bool = False

    @property
    def has_anchors(self) -> bool:
        return bool(self.trust.anchors)

    def at(self) -> datetime:
        return self.moment or datetime.now(UTC)


@dataclass(frozen=True)
class PathResult:
    """The outcome of validating one certificate's path: status, the chain found and the reasons."""

    trusted: bool
    status: str  # valid | untrusted | expired | not-yet-valid | revoked | weak-algorithm | invalid-chain
    chain: tuple[x509.Certificate, ...]
    reasons: tuple[str, ...]


def _a(cert: x509.Certificate) -> a_x509.Certificate:
    return a_x509.Certificate.load(cert.public_bytes(Encoding.DER))


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
        return cert.subject.rfc4514_string()
    return str(cert.subject.human_friendly)


def validate_path(
    cert: x509.Certificate, extra: Sequence[x509.Certificate], context: ValidationContext
) -> PathResult:
    """Validate cert to one of the context's anchors at the context's moment. Never raises for a bad path."""
    if not context.has_anchors:
        return PathResult(False, "untrusted", (cert,), ("no trust anchors were given, so no chain can be trusted",))
    # Imported here: pyhanko-certvalidator is heavy, and signing or encrypting never needs it.
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator import ValidationContext as _PHContext
    from pyhanko_certvalidator import errors as ph_errors

    others = [_a(c) for c in (*context.trust.intermediates, *extra)]
    ph = _PHContext(
        trust_roots=[_a(c) for c in context.trust.anchors],
        other_certs=others,
        moment=context.at(),
        allow_fetching=context.allow_fetching,
        crls=list(context.crls),
        revocation_mode="soft-fail" if context.revocation_mode == "off" else context.revocation_mode,
        weak_hash_algos={"md2", "md5"},
    )
    validator = CertificateValidator(_a(cert), validation_context=ph)
    try:
        path = _run(validator.async_validate_path())
    except ph_errors.RevokedError as exc:
        return PathResult(False, "revoked", (cert,), (f"a certificate in the chain is revoked: {exc}",))
    except ph_errors.ExpiredError as exc:
        return PathResult(False, "expired", (cert,), (f"a certificate in the chain has expired: {exc}",))
    except ph_errors.NotYetValidError as exc:
        return PathResult(False, "not-yet-valid", (cert,), (f"a certificate in the chain is not yet valid: {exc}",))
    except ph_errors.DisallowedAlgorithmError as exc:
        return PathResult(False, "weak-algorithm", (cert,), (f"the chain uses a refused algorithm: {exc}",))
    except ph_errors.PathBuildingError:
        return PathResult(
            False, "untrusted", (cert,), ("no chain leads from the certificate to a trusted anchor",)
        )
    except (ph_errors.PathValidationError, ph_errors.InsufficientRevinfoError) as exc:
        text = str(exc)
        status = "revoked" if "revoked" in text.lower() else "untrusted"
        return PathResult(False, status, (cert,), (f"the chain does not validate: {text}",))
    except Exception as exc:  # A malformed certificate in the chain must not crash verification.
        return PathResult(False, "untrusted", (cert,), (f"the chain could not be validated: {exc}",))
    chain = tuple(x509.load_der_x509_certificate(c.dump()) for c in reversed(list(path)))
    reasons = [f"chain: {' <- '.join(_subject(c) for c in chain)}"]
    weak = [c for c in chain[:-1] if c.signature_hash_algorithm is not None
            and c.signature_hash_algorithm.name in ("sha1", "md5")]
    if weak:
        return PathResult(True, "weak-algorithm", chain,
                          (*reasons, f"{_subject(weak[0])} is signed with {weak[0].signature_hash_algorithm.name}"))  # type: ignore[union-attr]
    return PathResult(True, "valid", chain, tuple(reasons))


__all__ = ["PathResult", "RevocationMode", "ValidationContext", "validate_path"]

"""Turn raw signature checks and path validation into signer statuses (the one boundary, RFC 8550/8551 rules).

RFC 8550 §3: the signer's certificate must carry the From address (skipped when the context's ``check_address``
is off); RFC 5280 §6 path validation and revocation (pki.validation): ``revoked``, and in hard-fail mode
``revocation-unknown``; in soft-fail mode an unknown revocation status keeps ``valid`` only with a reason
"revocation unknown: ..." so it is never silently valid. A signer certificate whose subject, issuer or extensions
cannot be parsed (pyca parses them lazily, so a tampered one loads) is ``unknown-signer``: no rule can be applied
to a certificate that cannot be read, and nothing downstream reads its fields unguarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from cryptography import x509

from ..cms.algorithms import WEAK_DIGESTS
from ..cms.verification import SignedDataCheck, SignerCheck
from ..limits import DEFAULT_LIMITS, Limits
from ..pki.certfields import unreadable_reason
from ..pki.profile import email_matches, signing_usage_problems, weak_key_reason
from ..pki.status import SignerStatus
from ..pki.validation import ValidationContext, validate_path
from .report import SignerResult


def judge_signer(
    check: SignerCheck,
    certificates: Sequence[x509.Certificate],
    context: ValidationContext,
    from_addresses: Sequence[str] | None,
) -> SignerResult:
    """Judge one signer; ``from_addresses`` None means there is no From to check (a bare CMS object)."""
    cert = check.certificate
    reasons: list[str] = []

    revocation = "not-checked"

    def result(status: SignerStatus, trusted: bool = False, chain: tuple[x509.Certificate, ...] = ()) -> SignerResult:
        return SignerResult(
            status=status,
            intact=check.intact,
            trusted=trusted,
            certificate=cert,
            chain=chain or ((cert,) if cert else ()),
            digest_algorithm=check.digest_algorithm,
            signature_algorithm=check.signature_algorithm,
            signing_time=check.signing_time,
            reasons=tuple(reasons),
            capabilities=check.capabilities,
            revocation=revocation,
            certificates=tuple(certificates),
        )

    if cert is None:
        reasons.append(check.failure or "the signer's certificate is missing")
        return result(SignerStatus.UNKNOWN_SIGNER)
    unreadable = unreadable_reason(cert)
    if unreadable is not None:
        # A broken signature stays the worse verdict; the unreadable certificate is said either way.
        if not check.intact:
            reasons.append(check.failure or "the signature does not verify")
        reasons.append(unreadable)
        return result(SignerStatus.UNKNOWN_SIGNER if check.intact else SignerStatus.INVALID_SIGNATURE)
    if not check.intact:
        reasons.append(check.failure or "the signature does not verify")
        return result(SignerStatus.UNSUPPORTED_ALGORITHM if check.unsupported else SignerStatus.INVALID_SIGNATURE)
    reasons.append("the signature is intact: the signed content has not been changed")
    reasons.extend(_signing_time_doubts(check, cert, context))
    usage = signing_usage_problems(cert)
    others = [c for c in certificates if c is not cert]
    path = validate_path(cert, others, context)
    revocation = path.revocation
    reasons.extend(path.reasons)
    if usage:
        reasons.extend(usage)
        return result(SignerStatus.USAGE_NOT_ALLOWED, path.trusted, path.chain)
    if path.status not in (SignerStatus.VALID, SignerStatus.WEAK_ALGORITHM):
        return result(path.status, False, path.chain)
    if not context.check_address:
        reasons.append("the From address was not compared with the signer's certificate (address check off)")
    elif from_addresses is None:
        reasons.append("no From address to compare with the signer's certificate (bare CMS object)")
    elif len(from_addresses) != 1:
        reasons.append(
            "the message has no From address" if not from_addresses
            else "the message has more than one From address, so the signer cannot be matched to one"
        )
        return result(SignerStatus.ADDRESS_MISMATCH, path.trusted, path.chain)
    elif not email_matches(from_addresses[0], cert):
        reasons.append(f"the From address {from_addresses[0]} is not an address of the signer's certificate")
        return result(SignerStatus.ADDRESS_MISMATCH, path.trusted, path.chain)
    else:
        reasons.append(f"the signer's certificate belongs to the From address {from_addresses[0]}")
    weak = []
    accepted: list[str] = []
    if check.digest_algorithm in WEAK_DIGESTS:
        if context.allows(check.digest_algorithm):
            accepted.append(check.digest_algorithm)
        else:
            weak.append(f"the message digest uses the weak algorithm {check.digest_algorithm.upper()}")
    key_reason = weak_key_reason(cert, context.allow_legacy)
    if key_reason:
        weak.append(key_reason)
    elif weak_key_reason(cert):
        accepted.append("the signer's key")
    if accepted:
        reasons.append(f"legacy algorithms accepted by explicit choice (allow_legacy: "
                       f"{', '.join(sorted(context.allow_legacy))}): {', '.join(accepted)}")
    if weak or path.status == SignerStatus.WEAK_ALGORITHM:
        reasons.extend(weak)
        return result(SignerStatus.WEAK_ALGORITHM, path.trusted, path.chain)
    return result(SignerStatus.VALID, True, path.chain)


#: How far a signer's clock may be off before its signing time is doubted.
CLOCK_SKEW = timedelta(days=1)


def _signing_time_doubts(check: SignerCheck, cert: x509.Certificate, context: ValidationContext) -> list[str]:
    """The signing-time attribute is the signer's claim (RFC 5652 §11.3), never a validation input: mailseal
    validates at the context's moment. A claim in the future, or before the certificate existed, is said."""
    when = check.signing_time
    if when is None:
        return []
    if when > context.at() + CLOCK_SKEW:
        return [f"the signing time {when.isoformat()} is in the future: it is not used (the certificate is "
                "validated now)"]
    if when < cert.not_valid_before_utc - CLOCK_SKEW:
        return [f"the signing time {when.isoformat()} is before the signer's certificate was issued: it is not "
                "used (the certificate is validated now)"]
    return []


def judge(
    check: SignedDataCheck, context: ValidationContext, from_addresses: Sequence[str] | None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[SignerResult, ...]:
    """Each signer judged in turn; ``limits``' deadline (``message_seconds``) is checked before each path
    validation, the costliest step a signer brings."""
    results = []
    for signer in check.signers:
        limits.check_time()
        results.append(judge_signer(signer, check.certificates, context, from_addresses))
    return tuple(results)


__all__ = ["judge", "judge_signer"]

"""Recipient certificate checks before encryption (RFC 8550 §4.4, RFC 5280 §6): profile, validity, path, revocation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509

from ..cms.names import name_text
from ..errors import RecipientError
from .profile import check_certificate
from .status import SignerStatus

if TYPE_CHECKING:
    from .validation import ValidationContext

REFUSED_PATH_STATUSES = (SignerStatus.REVOKED, SignerStatus.EXPIRED, SignerStatus.NOT_YET_VALID,
                         SignerStatus.REVOCATION_UNKNOWN, SignerStatus.UNTRUSTED, SignerStatus.WEAK_ALGORITHM)


def check_recipients(certificates: Sequence[x509.Certificate], context: ValidationContext | None = None) -> None:
    """Refuse, with every reason, recipients that must not receive encrypted mail.

    Always: the S/MIME profile (e-mail address, EKU emailProtection, key usage for encryption, allowed keys) and
    the validity period. With a context that has trust anchors: the certificate path and, as the context's
    revocation mode says, revocation; an untrusted or revoked recipient is refused.
    """
    problems: list[str] = []
    at = context.at() if context is not None else None
    for cert in certificates:
        who = ", ".join(check_certificate(cert).addresses) or name_text(cert.subject)
        verdict = check_certificate(cert, at=at)
        reasons = list(verdict.reasons_encrypt)
        if not reasons and context is not None and context.has_anchors:
            from .validation import validate_path  # path validation (and its imports) only when there are anchors

            path = validate_path(cert, (), context)
            if path.status in REFUSED_PATH_STATUSES:
                reasons.append(f"its certificate is {path.status}: {'; '.join(path.reasons[-1:])}")
        if reasons:
            problems.append(f"recipient {who}: {'; '.join(reasons)}")
    if problems:
        raise RecipientError(" | ".join(problems))


__all__ = ["REFUSED_PATH_STATUSES", "check_recipients"]

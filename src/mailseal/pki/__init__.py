"""Certificates and trust: trust stores (PEM, DER, PKCS#7, PKCS#12, SST), RFC 5280 path validation with CRL/OCSP,
S/MIME profile checks (RFC 8550, CA/B Forum S/MIME BR), and an internal CA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_EXPORTS = {
    "FetchError": ".fetching",
    "FetchPolicy": ".fetching",
    "PathResult": ".validation",
    "ProfileVerdict": ".profile",
    "RevocationMode": ".validation",
    "SignerStatus": ".status",
    "Tlsa": ".dane",
    "TrustStore": ".truststore",
    "ValidationContext": ".validation",
    "certificate_emails": ".profile",
    "check_certificate": ".profile",
    "email_matches": ".profile",
    "encryption_usage_problems": ".profile",
    "match_chain": ".dane",
    "normalize_address": ".profile",
    "read_certificate_file": ".truststore",
    "read_certificates": ".truststore",
    "read_sst": ".sst",
    "signing_usage_problems": ".profile",
    "validate_path": ".validation",
    "weak_key_reason": ".profile",
    "write_sst": ".sst",
}
__getattr__ = lazy_getattr(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from .dane import Tlsa, match_chain
    from .fetching import FetchError, FetchPolicy
    from .profile import (
        ProfileVerdict,
        certificate_emails,
        check_certificate,
        email_matches,
        encryption_usage_problems,
        normalize_address,
        signing_usage_problems,
        weak_key_reason,
    )
    from .sst import read_sst, write_sst
    from .status import SignerStatus
    from .truststore import TrustStore, read_certificate_file, read_certificates
    from .validation import PathResult, RevocationMode, ValidationContext, validate_path

__all__ = [
    "FetchError",
    "FetchPolicy",
    "PathResult",
    "ProfileVerdict",
    "RevocationMode",
    "SignerStatus",
    "Tlsa",
    "TrustStore",
    "ValidationContext",
    "certificate_emails",
    "check_certificate",
    "email_matches",
    "encryption_usage_problems",
    "match_chain",
    "normalize_address",
    "read_certificate_file",
    "read_certificates",
    "read_sst",
    "signing_usage_problems",
    "validate_path",
    "weak_key_reason",
    "write_sst",
]

"""Certificates and trust: trust stores, RFC 5280 path validation, S/MIME profile checks (RFC 8550)."""

from .profile import (
    certificate_emails,
    email_matches,
    encryption_usage_problems,
    normalize_address,
    signing_usage_problems,
    weak_key_reason,
)
from .truststore import TrustStore
from .validation import PathResult, RevocationMode, ValidationContext, validate_path

__all__ = [
    "PathResult",
    "RevocationMode",
    "TrustStore",
    "ValidationContext",
    "certificate_emails",
    "email_matches",
    "encryption_usage_problems",
    "normalize_address",
    "signing_usage_problems",
    "validate_path",
    "weak_key_reason",
]

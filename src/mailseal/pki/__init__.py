"""Certificates and trust: trust stores (PEM, DER, PKCS#7, PKCS#12, SST), RFC 5280 path validation with CRL/OCSP,
S/MIME profile checks (RFC 8550, CA/B Forum S/MIME BR), and an internal CA."""

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
from .truststore import TrustStore, read_certificate_file, read_certificates
from .validation import PathResult, RevocationMode, ValidationContext, validate_path

__all__ = [
    "FetchError",
    "FetchPolicy",
    "PathResult",
    "ProfileVerdict",
    "RevocationMode",
    "TrustStore",
    "ValidationContext",
    "certificate_emails",
    "check_certificate",
    "email_matches",
    "encryption_usage_problems",
    "normalize_address",
    "read_certificate_file",
    "read_certificates",
    "read_sst",
    "signing_usage_problems",
    "validate_path",
    "weak_key_reason",
    "write_sst",
]

"""Low level: RFC 5652 CMS SignedData, EnvelopedData and AuthEnvelopedData. Prefer the high-level ``mailseal`` API."""

from .algorithms import CONTENT_CIPHERS, DEFAULT_CIPHER, DEFAULT_DIGEST
from .decryption import DecryptedContent, decrypt_data
from .enveloping import check_recipient, envelope_data
from .identity import Identity, load_certificates, load_private_key
from .parsing import looks_like_cms, parse_content_info
from .signing import sign_data
from .verification import SignedDataCheck, SignerCheck, check_signed_data

__all__ = [
    "CONTENT_CIPHERS",
    "DEFAULT_CIPHER",
    "DEFAULT_DIGEST",
    "DecryptedContent",
    "Identity",
    "SignedDataCheck",
    "SignerCheck",
    "check_recipient",
    "check_signed_data",
    "decrypt_data",
    "envelope_data",
    "load_certificates",
    "load_private_key",
    "looks_like_cms",
    "parse_content_info",
    "sign_data",
]

"""Low level: RFC 5652 CMS SignedData, EnvelopedData and AuthEnvelopedData. Prefer the high-level ``mailseal`` API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_EXPORTS = {
    "CONTENT_CIPHERS": ".algorithms",
    "DEFAULT_CIPHER": ".algorithms",
    "DEFAULT_DIGEST": ".algorithms",
    "ContentKind": ".algorithms",
    "DecryptedContent": ".decryption",
    "Identity": ".identity",
    "SignedDataCheck": ".verification",
    "SignerCheck": ".verification",
    "check_recipient": ".enveloping",
    "check_signed_data": ".verification",
    "content_type_of": ".parsing",
    "decrypt_data": ".decryption",
    "envelope_data": ".enveloping",
    "load_certificates": ".identity",
    "load_private_key": ".identity",
    "looks_like_cms": ".parsing",
    "parse_content_info": ".parsing",
    "sign_data": ".signing",
}
__getattr__ = lazy_getattr(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from .algorithms import CONTENT_CIPHERS, DEFAULT_CIPHER, DEFAULT_DIGEST, ContentKind
    from .decryption import DecryptedContent, decrypt_data
    from .enveloping import check_recipient, envelope_data
    from .identity import Identity, load_certificates, load_private_key
    from .parsing import content_type_of, looks_like_cms, parse_content_info
    from .signing import sign_data
    from .verification import SignedDataCheck, SignerCheck, check_signed_data

__all__ = [
    "CONTENT_CIPHERS",
    "DEFAULT_CIPHER",
    "DEFAULT_DIGEST",
    "ContentKind",
    "DecryptedContent",
    "Identity",
    "SignedDataCheck",
    "SignerCheck",
    "check_recipient",
    "check_signed_data",
    "content_type_of",
    "decrypt_data",
    "envelope_data",
    "load_certificates",
    "load_private_key",
    "looks_like_cms",
    "parse_content_info",
    "sign_data",
]

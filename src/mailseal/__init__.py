"""mailseal: S/MIME 4.0 (RFC 8551) signing, encryption, verification and decryption of e-mail."""

from .api import decrypt, encrypt, open, sign, verify
from .cms.identity import Identity, load_certificates
from .errors import DecryptionError, ErrorCode, MailsealError
from .mime.opening import Opened
from .mime.report import Layer, Report, SignerResult
from .pki.truststore import TrustStore
from .pki.validation import ValidationContext

__version__ = "0.1.0"

__all__ = [
    "DecryptionError",
    "ErrorCode",
    "Identity",
    "Layer",
    "MailsealError",
    "Opened",
    "Report",
    "SignerResult",
    "TrustStore",
    "ValidationContext",
    "decrypt",
    "encrypt",
    "load_certificates",
    "open",
    "sign",
    "verify",
]

"""mailseal: S/MIME 4.0 (RFC 8551) signing, encryption, verification and decryption of e-mail.

The public names are loaded on first use (PEP 562), so that a command that needs little starts fast.
"""

from __future__ import annotations

from ._lazy import lazy_getattr

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: the ``mailseal`` command would pay for importing typing

__version__ = "0.1.0"

_EXPORTS = {
    "DecryptionError": "mailseal.errors",
    "ErrorCode": "mailseal.errors",
    "Identity": "mailseal.cms.identity",
    "Layer": "mailseal.mime.report",
    "LimitExceededError": "mailseal.errors",
    "Limits": "mailseal.limits",
    "MailsealError": "mailseal.errors",
    "Opened": "mailseal.mime.opening",
    "Report": "mailseal.mime.report",
    "SignerResult": "mailseal.mime.report",
    "SignerStatus": "mailseal.pki.status",
    "TrustStore": "mailseal.pki.truststore",
    "ValidationContext": "mailseal.pki.validation",
    "decrypt": "mailseal.api",
    "encrypt": "mailseal.api",
    "load_certificates": "mailseal.cms.identity",
    "open": "mailseal.api",
    "sign": "mailseal.api",
    "verify": "mailseal.api",
}

if TYPE_CHECKING:
    from .api import decrypt, encrypt, open, sign, verify
    from .cms.identity import Identity, load_certificates
    from .errors import DecryptionError, ErrorCode, LimitExceededError, MailsealError
    from .limits import Limits
    from .mime.opening import Opened
    from .mime.report import Layer, Report, SignerResult
    from .pki.status import SignerStatus
    from .pki.truststore import TrustStore
    from .pki.validation import ValidationContext


__getattr__ = lazy_getattr(__name__, globals(), _EXPORTS)


__all__ = [
    "DecryptionError",
    "ErrorCode",
    "Identity",
    "Layer",
    "LimitExceededError",
    "Limits",
    "MailsealError",
    "Opened",
    "Report",
    "SignerResult",
    "SignerStatus",
    "TrustStore",
    "ValidationContext",
    "decrypt",
    "encrypt",
    "load_certificates",
    "open",
    "sign",
    "verify",
]

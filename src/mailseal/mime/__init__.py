"""RFC 8551 S/MIME messages: canonical form, multipart/signed, application/pkcs7-mime, and opening them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_EXPORTS = {
    "EncryptOptions": ".enveloped",
    "Entity": ".entity",
    "Layer": ".report",
    "MessageInput": ".entity",
    "Opened": ".opening",
    "Report": ".report",
    "STATUS_ORDER": ".report",
    "SignOptions": ".signed",
    "SignerResult": ".report",
    "SignerStatus": ".report",
    "canonical_entity": ".canonical",
    "classify": ".opening",
    "decrypt_message": ".opening",
    "encrypt_message": ".enveloped",
    "from_addresses": ".sender",
    "open_message": ".opening",
    "sign_message": ".signed",
    "to_crlf": ".canonical",
}
__getattr__ = lazy_getattr(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from .canonical import canonical_entity, to_crlf
    from .entity import Entity, MessageInput
    from .enveloped import EncryptOptions, encrypt_message
    from .opening import Opened, classify, decrypt_message, open_message
    from .report import STATUS_ORDER, Layer, Report, SignerResult, SignerStatus
    from .sender import from_addresses
    from .signed import SignOptions, sign_message

__all__ = [
    "STATUS_ORDER",
    "EncryptOptions",
    "Entity",
    "Layer",
    "MessageInput",
    "Opened",
    "Report",
    "SignOptions",
    "SignerResult",
    "SignerStatus",
    "canonical_entity",
    "classify",
    "decrypt_message",
    "encrypt_message",
    "from_addresses",
    "open_message",
    "sign_message",
    "to_crlf",
]

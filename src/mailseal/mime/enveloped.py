"""S/MIME encrypted messages: application/pkcs7-mime enveloped-data and authEnveloped-data (RFC 8551 §3.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from ..cms.algorithms import DEFAULT_CIPHER, content_cipher
from ..cms.enveloping import KeyTransport, RecipientId, envelope_data
from .canonical import default_content_type, to_crlf
from .entity import Entity, MessageInput, read_input
from .signed import b64_lines, outer_header_block


@dataclass(frozen=True)
class EncryptOptions:
    cipher: str = DEFAULT_CIPHER
    key_transport: KeyTransport = "pkcs1v15"
    recipient_id: RecipientId = "issuer-serial"


def encrypt_message(
    message: MessageInput, recipients: Sequence[x509.Certificate], options: EncryptOptions = EncryptOptions()
) -> bytes:
    """Encrypt the content entity for every recipient; the outer fields stay readable for transport."""
    entity = Entity.parse(read_input(message))
    lines = entity.content_lines() or [default_content_type(entity.body)]
    inner = to_crlf(b"".join(line + b"\r\n" for line in lines) + b"\r\n" + entity.body)
    spec = content_cipher(options.cipher)
    der = envelope_data(
        inner, recipients, cipher=spec.name, key_transport=options.key_transport, recipient_id=options.recipient_id
    )
    return (
        outer_header_block(entity)
        + b"MIME-Version: 1.0\r\n"
        + b"Content-Type: application/pkcs7-mime; smime-type="
        + spec.smime_type.encode()
        + b'; name="smime.p7m"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
        + b64_lines(der)
    )


__all__ = ["EncryptOptions", "encrypt_message"]

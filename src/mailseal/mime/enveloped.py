"""S/MIME encrypted messages: application/pkcs7-mime enveloped-data and authEnveloped-data (RFC 8551 §3.3)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509

from ..cms.algorithms import DEFAULT_CIPHER, content_cipher
from ..cms.enveloping import KeyTransport, RecipientId, stream_enveloped_data
from ..streamio import Base64Writer, expect_bulk
from .canonical import canonical_chunks, default_entity_header
from .entity import Entity, MessageInput, input_region
from .signed import outer_header_block


@dataclass(frozen=True)
class EncryptOptions:
    cipher: str = DEFAULT_CIPHER
    key_transport: KeyTransport = "pkcs1v15"
    recipient_id: RecipientId = "issuer-serial"
    protect_headers: bool = False  # RFC 9788: copies inside with hp="cipher", outer Subject "[...]"


def _entity_chunks(entity: Entity) -> Iterator[bytes]:
    lines = entity.content_lines() or [default_entity_header(entity.region)]
    yield b"".join(line + b"\r\n" for line in lines) + b"\r\n"
    yield from canonical_chunks(entity.region)


def encrypt_message(
    message: MessageInput,
    recipients: Sequence[x509.Certificate],
    options: EncryptOptions = EncryptOptions(),
    out: BinaryIO | None = None,
) -> bytes | None:
    """Encrypt the content entity for every recipient; the outer fields stay readable for transport.

    Streams from the input to ``out`` in bounded memory; without ``out`` the encrypted message is returned.
    """
    sink: BinaryIO = out if out is not None else io.BytesIO()
    entity = Entity.from_region(input_region(message))
    expect_bulk(entity.region.size)
    spec = content_cipher(options.cipher)
    outer = outer_header_block(entity)
    if options.protect_headers:
        from .protection import is_signed, protect, protect_signed

        protected = protect_signed(entity) if is_signed(entity) else protect(entity, "cipher")
        entity, outer = protected.payload, protected.outer_block()
    header = (
        outer
        + b"MIME-Version: 1.0\r\n"
        + b"Content-Type: application/pkcs7-mime; smime-type="
        + spec.smime_type.encode()
        + b'; name="smime.p7m"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
    )
    b64 = Base64Writer(sink)
    first = True

    def write(data: bytes) -> None:
        nonlocal first
        if first:
            # The header goes out only once the recipients have been accepted: a refusal writes nothing.
            sink.write(header)
            first = False
        b64.write(data)

    stream_enveloped_data(
        _entity_chunks(entity), recipients, write,
        cipher=spec.name, key_transport=options.key_transport, recipient_id=options.recipient_id,
    )
    b64.close()
    if out is None:
        assert isinstance(sink, io.BytesIO)
        return sink.getvalue()
    return None


__all__ = ["EncryptOptions", "encrypt_message"]

"""S/MIME signed messages: multipart/signed (RFC 8551 §3.5.3, RFC 1847) and opaque signed-data (§3.5.2)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO

from ..cms.algorithms import MICALG
from ..cms.identity import Identity
from ..cms.signing import SignPlan, detached_signed_data, plan_signature, stream_signed_data
from ..errors import MalformedMIMEError
from ..limits import DEFAULT_LIMITS, Limits
from ..streamio import Base64Writer, Region, base64_lines, rewindable, truncate_to
from .canonical import canonical_entity_chunks, canonical_entity_hashed
from .entity import Entity, MessageInput, input_region
from .multipart import split_multipart

PREAMBLE = b"This is an S/MIME signed message\r\n"
DROPPED_OUTER = (b"bcc",)



def outer_header_block(entity: Entity) -> bytes:
    """The message's outer fields (From, To, Subject, ...) kept in order; Bcc never goes out."""
    lines = [ln for ln in entity.outer_lines() if ln.partition(b":")[0].strip().lower() not in DROPPED_OUTER]
    return b"".join(line + b"\r\n" for line in lines)


def new_boundary() -> str:
    """96 random bits: the signed entity cannot contain it except by a chance of 2**-96 (RFC 2046 §5.1.1)."""
    return "----=_mailseal_" + os.urandom(12).hex()


@dataclass(frozen=True)
class SignOptions:
    opaque: bool = False
    digest: str = "sha256"
    pss: bool = False
    include_certs: bool = True
    include_chain: bool = True
    protect_headers: bool = False  # RFC 9788: copies of From, To, Subject, ... inside, hp="clear"
    # With protect_headers, for a message that is encrypted next: hp="cipher", HP-Outer, outer Subject "[...]"
    to_be_encrypted: bool = False
    include_capabilities: bool = True  # RFC 8551 §2.5.2 SHOULD; False is Exchange's OWAIncludeSMIMECapabilities off
    # RFC 8550 §3: the From addresses must be the signer certificate's; True signs a message whose are not
    allow_from_mismatch: bool = False


def _signature_part(der: bytes) -> bytes:
    return (
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        b"Content-Description: S/MIME Cryptographic Signature\r\n\r\n" + base64_lines(der)
    )


OPAQUE_HEADERS = (
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
)


def sign_message(
    message: MessageInput, identity: Identity, options: SignOptions = SignOptions(), out: BinaryIO | None = None
) -> bytes | None:
    """Sign a message: the content entity is canonicalised and signed; the outer fields stay outside.

    Streams from the input to ``out`` in bounded memory; without ``out`` the signed message is returned.
    A From address that is not the signer certificate's raises FromMismatchError before anything is written,
    unless ``options.allow_from_mismatch``.
    """
    sink: BinaryIO = out if out is not None else io.BytesIO()
    entity = Entity.from_region(input_region(message))
    plan = plan_signature(
        identity, digest=options.digest, pss=options.pss,
        include_certs=options.include_certs, include_chain=options.include_chain,
        capabilities=options.include_capabilities,
    )
    if not options.allow_from_mismatch:  # after the key's own checks: an unusable key is the first thing to say
        from .sender import check_signer_from

        check_signer_from(entity, identity.certificate)
    if options.protect_headers:
        from .protection import protect

        protected = protect(entity, "cipher" if options.to_be_encrypted else "clear", exact_default=True)
        content, outer = protected.payload, protected.outer_block()
    else:
        content, outer = entity, outer_header_block(entity)
    if options.opaque:
        chunks = canonical_entity_chunks(content)
        sink.write(outer + OPAQUE_HEADERS)
        b64 = Base64Writer(sink)
        stream_signed_data(plan, chunks(), b64.write)
        b64.close()
    else:
        _write_multipart_signed(sink, plan, content, outer)
    if out is None:
        assert isinstance(sink, io.BytesIO)
        return sink.getvalue()
    return None


def _write_multipart_signed(sink: BinaryIO, plan: SignPlan, content: Entity, outer: bytes) -> None:
    """multipart/signed (RFC 1847): the outer fields, the canonical content entity and the detached signature.
    A failure part-way leaves nothing behind in a sink that can be cut back."""
    start = sink.tell() if rewindable(sink) else None
    try:
        boundary = new_boundary().encode()
        micalg = MICALG.get(plan.digest, plan.digest).encode()
        sink.write(
            outer
            + b"MIME-Version: 1.0\r\n"
            + b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
            + b' micalg="' + micalg + b'"; boundary="' + boundary + b'"\r\n\r\n'
            + PREAMBLE
            + b"\r\n--" + boundary + b"\r\n"
        )
        # The entity is hashed during the scan that decides its canonical form. Where the output can be taken
        # back (a file), it is written during that scan too: one pass over the body unless it needs re-encoding.
        h = plan.new_hash()
        mark = sink.tell() if start is not None else None
        chunks, hashed = canonical_entity_hashed(content, h, sink.write if mark is not None else None)
        if not hashed:
            if mark is not None:
                truncate_to(sink, mark)
            h = plan.new_hash()
            for chunk in chunks():
                h.update(chunk)
                sink.write(chunk)
        elif mark is None:  # hashed during the scan: this pass only copies
            for chunk in chunks():
                sink.write(chunk)
        der = detached_signed_data(plan, h.digest())
        sink.write(b"\r\n--" + boundary + b"\r\n" + _signature_part(der) + b"\r\n--" + boundary + b"--\r\n")
    except BaseException:
        if start is not None:  # the header and part of the body went out before the scan failed: take them back
            truncate_to(sink, start)
        raise


@dataclass(frozen=True)
class DetachedSigned:
    content: Region  # the signed entity exactly as received
    signature: bytes  # DER/BER of the SignedData


SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")


def parse_multipart_signed(entity: Entity, limits: Limits = DEFAULT_LIMITS) -> DetachedSigned:
    _ctype, params = entity.content_type()
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedMIMEError("multipart/signed without a boundary parameter")
    parts = split_multipart(entity.region, boundary, limits.max_parts, limits.deadline)
    if len(parts) != 2:
        raise MalformedMIMEError(f"multipart/signed must have exactly two parts, found {len(parts)}")
    sig = Entity.from_region(parts[1], limits)
    sig_type, _ = sig.content_type()
    if sig_type not in SIGNATURE_TYPES and not (
        sig_type == "application/octet-stream" and (sig.filename() or "").lower().endswith(".p7s")
    ):
        raise MalformedMIMEError(f"the second part of multipart/signed is {sig_type}, not a PKCS#7 signature")
    return DetachedSigned(parts[0], sig.decoded_body())


__all__ = [
    "DetachedSigned",
    "SignOptions",
    "new_boundary",
    "outer_header_block",
    "parse_multipart_signed",
    "sign_message",
]

"""S/MIME signed messages: multipart/signed (RFC 8551 §3.5.3, RFC 1847) and opaque signed-data (§3.5.2)."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from ..cms.algorithms import MICALG
from ..cms.identity import Identity
from ..cms.signing import sign_data
from ..errors import MalformedMIMEError
from .canonical import canonical_entity
from .entity import Entity, MessageInput, read_input

PREAMBLE = b"This is an S/MIME signed message\r\n"
DROPPED_OUTER = (b"bcc",)


def b64_lines(data: bytes) -> bytes:
    """Base64 in 76-character lines with CRLF (RFC 2045 §6.8)."""
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def outer_header_block(entity: Entity) -> bytes:
    """The message's outer fields (From, To, Subject, ...) kept in order; Bcc never goes out."""
    lines = [ln for ln in entity.outer_lines() if ln.partition(b":")[0].strip().lower() not in DROPPED_OUTER]
    return b"".join(line + b"\r\n" for line in lines)


def new_boundary(avoid: bytes) -> str:
    while True:
        boundary = "----=_mailseal_" + os.urandom(12).hex()
        if boundary.encode() not in avoid:
            return boundary


@dataclass(frozen=True)
class SignOptions:
    opaque: bool = False
    digest: str = "sha256"
    pss: bool = False
    include_certs: bool = True
    include_chain: bool = True


def sign_message(message: MessageInput, identity: Identity, options: SignOptions = SignOptions()) -> bytes:
    """Sign a message: the content entity is canonicalised and signed; the outer fields stay outside."""
    entity = Entity.parse(read_input(message))
    inner = canonical_entity(entity)
    der = sign_data(
        inner,
        identity,
        digest=options.digest,
        pss=options.pss,
        detached=not options.opaque,
        include_certs=options.include_certs,
        include_chain=options.include_chain,
    )
    outer = outer_header_block(entity)
    if options.opaque:
        return (
            outer
            + b"MIME-Version: 1.0\r\n"
            + b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
            + b"Content-Transfer-Encoding: base64\r\n"
            + b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
            + b64_lines(der)
        )
    from ..cms.parsing import parse_content_info

    digest_used = str(parse_content_info(der)["content"]["digest_algorithms"][0]["algorithm"].native)
    boundary = new_boundary(inner).encode()
    micalg = MICALG.get(digest_used, digest_used).encode()
    return (
        outer
        + b"MIME-Version: 1.0\r\n"
        + b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
        + b' micalg="' + micalg + b'"; boundary="' + boundary + b'"\r\n\r\n'
        + PREAMBLE
        + b"\r\n--" + boundary + b"\r\n"
        + inner
        + b"\r\n--" + boundary + b"\r\n"
        + b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        + b"Content-Description: S/MIME Cryptographic Signature\r\n\r\n"
        + b64_lines(der)
        + b"\r\n--" + boundary + b"--\r\n"
    )


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The exact bytes of each body part: between a delimiter line and the line end before the next (RFC 2046 §5.1.1)."""
    b = re.escape(boundary.encode())
    delim = re.compile(rb"(?:\A|\r?\n)--" + b + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    closed = False
    for m in delim.finditer(body):
        if start is not None:
            parts.append(body[start : m.start()])
        if m.group(1):
            closed = True
            break
        start = m.end()
    if not closed:
        raise MalformedMIMEError("the multipart body has no closing boundary (truncated message?)")
    return parts


@dataclass(frozen=True)
class DetachedSigned:
    content: bytes  # the signed entity exactly as received
    signature: bytes  # DER/BER of the SignedData


SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")


def parse_multipart_signed(entity: Entity) -> DetachedSigned:
    _ctype, params = entity.content_type()
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedMIMEError("multipart/signed without a boundary parameter")
    parts = split_multipart(entity.body, boundary)
    if len(parts) != 2:
        raise MalformedMIMEError(f"multipart/signed must have exactly two parts, found {len(parts)}")
    sig = Entity.parse(parts[1])
    sig_type, _ = sig.content_type()
    name = (sig.filename() or "").lower()
    if sig_type not in SIGNATURE_TYPES and not (sig_type == "application/octet-stream" and name.endswith(".p7s")):
        raise MalformedMIMEError(f"the second part of multipart/signed is {sig_type}, not a PKCS#7 signature")
    return DetachedSigned(parts[0], sig.decoded_body())


__all__ = [
    "DetachedSigned",
    "SignOptions",
    "b64_lines",
    "new_boundary",
    "outer_header_block",
    "parse_multipart_signed",
    "sign_message",
    "split_multipart",
]

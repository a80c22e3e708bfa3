"""Load a CMS ContentInfo (RFC 5652 §3) from DER, BER (indefinite length) or PEM, with clear errors."""

from __future__ import annotations

import base64
import binascii
import io
import re

from asn1crypto import cms

from ..errors import MalformedCMSError
from ..streamio import Region, Source
from . import asn1 as _asn1  # noqa: F401  (registers OIDs)
from .algorithms import ContentKind
from .der import BerReader

_PEM = re.compile(rb"-----BEGIN (PKCS7|CMS|PKCS #7 SIGNED DATA)-----(.*?)-----END \1-----", re.S)
MAX_PEM = 64 << 20  # a PEM CMS object is decoded in memory: DER and BER are read in place, at any size
_HEAD = 64  # enough for a ContentInfo's SEQUENCE header, content type OID and [0] header


def cms_bytes(data: bytes) -> bytes:
    """Return DER/BER bytes from PEM or raw input."""
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        m = _PEM.search(stripped)
        if not m:
            raise MalformedCMSError("the PEM data holds no PKCS7/CMS block")
        try:
            return base64.b64decode(b"".join(m.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedCMSError("the PEM block's base64 is corrupt") from None
    return data


def looks_like_cms(data: bytes) -> bool:
    """True when the bytes look like a bare CMS object (DER/BER SEQUENCE or a PEM PKCS7/CMS block)."""
    head = data.lstrip()[:40]
    return head.startswith(b"\x30") or head.startswith(b"-----BEGIN PKCS7") or head.startswith(b"-----BEGIN CMS")


def cms_region(source: Region) -> Region:
    """The DER/BER of a bare CMS object: a PEM block is decoded (whole, up to 64 MiB), DER or BER is used in place."""
    if not source.head(_HEAD).lstrip().startswith(b"-----BEGIN"):
        return source
    return Region.of_bytes(cms_bytes(source.read_all(MAX_PEM)))


def content_type_of(source: bytes | Source) -> ContentKind | None:
    """What a ContentInfo (RFC 5652 §3) holds, read from its first bytes only: a ``ContentKind``, or None for a
    content type mailseal does not know. Bytes that are not a ContentInfo raise ``MalformedCMSError``."""
    head = source[:_HEAD] if isinstance(source, bytes) else source.head(_HEAD)
    if not head or head[0] != 0x30:
        raise MalformedCMSError("the data is not a CMS structure (it does not start with an ASN.1 SEQUENCE)")
    try:
        reader = BerReader(io.BytesIO(head))
        reader.header()
        oid = reader.element()
        explicit = reader.header()
    except Exception:
        raise MalformedCMSError("the CMS structure cannot be parsed (truncated or not CMS)") from None
    if oid[:1] != b"\x06" or explicit.tag != 0xA0:
        raise MalformedCMSError("the data is not a CMS ContentInfo (no content type and [0] content)")
    return ContentKind.from_der(oid)


def parse_content_info(data: bytes) -> cms.ContentInfo:
    """Parse and sanity-check a ContentInfo; every failure is a MalformedCMSError."""
    raw = cms_bytes(data)
    if not raw:
        raise MalformedCMSError("the CMS data is empty")
    if raw[0] != 0x30:
        raise MalformedCMSError("the data is not a CMS structure (it does not start with an ASN.1 SEQUENCE)")
    try:
        info = cms.ContentInfo.load(raw, strict=False)
        content_type = info["content_type"].native
        _ = info["content"].parsed if hasattr(info["content"], "parsed") else info["content"]
        if info["content"].contents is None:
            raise ValueError("no content")
    except MalformedCMSError:
        raise
    except Exception as exc:
        raise MalformedCMSError(f"the CMS structure cannot be parsed ({_short(exc)})") from None
    if content_type is None:
        raise MalformedCMSError("the CMS structure has no content type")
    return info


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


__all__ = ["ContentKind", "cms_bytes", "cms_region", "content_type_of", "looks_like_cms", "parse_content_info"]

"""Load a CMS ContentInfo (RFC 5652 §3) from DER, BER (indefinite length) or PEM, with clear errors."""

from __future__ import annotations

import base64
import binascii
import re

from asn1crypto import cms

from ..errors import MalformedCMSError
from . import asn1 as _asn1  # noqa: F401  (registers OIDs)

_PEM = re.compile(rb"-----BEGIN (PKCS7|CMS|PKCS #7 SIGNED DATA)-----(.*?)-----END \1-----", re.S)


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


__all__ = ["cms_bytes", "looks_like_cms", "parse_content_info"]

"""Signed messages whose signer certificate pyca `cryptography` loads but cannot read: a field's inner encoding is
broken while every outer length stays valid, so the damage only shows when the field is first read (pyca parses
the subject, the issuer and the extensions lazily). Found by fuzzing mailseal.verify (issue 14)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from asn1crypto import x509 as a_x509

#: Where pyca reports a broken subject, a broken subjectAltName address and a broken KeyUsage.
BREAKAGES = ("subject", "san-address", "key-usage")

_KEY_USAGE_OID = b"\x06\x03\x55\x1d\x0f"


def _subject_tag(cert: bytes) -> bytes:
    """The subject's first attribute value gets the constructed bit (a UTF8String 0x0C becomes 0x2C): pyca reads
    "UnexpectedTag ... location: subject"."""
    tbs = a_x509.Certificate.load(cert)["tbs_certificate"]
    issuer, subject = tbs["issuer"].dump(), tbs["subject"].dump()
    start = cert.index(subject, cert.index(issuer) + len(issuer))
    value = tbs["subject"].chosen[0][0]["value"].dump()
    position = cert.index(value, start)
    return cert[:position] + bytes([cert[position] | 0x20]) + cert[position + 1:]


def _san_address(cert: bytes) -> bytes:
    """The "@" of the subjectAltName's rfc822Name becomes 0xFF, which an IA5String cannot hold: pyca reads
    "InvalidValue ... GeneralName::RFC822Name" when the extensions are first read."""
    address = a_x509.Certificate.load(cert).subject_alt_name_value[0].chosen.contents
    start = cert.index(b"\x81" + bytes([len(address)]) + address)  # [1] IMPLICIT IA5String in a GeneralNames
    at = cert.index(b"@", start)
    return cert[:at] + b"\xff" + cert[at + 1:]


def _key_usage(cert: bytes) -> bytes:
    """The KeyUsage BIT STRING claims 8 unused bits (at most 7 are allowed, X.690 §8.6.2.2): pyca reads
    "InvalidValue" when the extensions are first read."""
    at = cert.index(_KEY_USAGE_OID)
    bit_string = cert.index(b"\x03", at + len(_KEY_USAGE_OID) + 2)  # after the OID, the critical flag, the OCTETs
    unused = bit_string + 2
    return cert[:unused] + b"\x08" + cert[unused + 1:]


_BREAK: dict[str, Callable[[bytes], bytes]] = {
    "subject": _subject_tag,
    "san-address": _san_address,
    "key-usage": _key_usage,
}


def break_certificate(cert: bytes, breakage: str) -> bytes:
    """``cert`` (DER) with one field broken (one of ``BREAKAGES``); the length is unchanged."""
    broken = _BREAK[breakage](cert)
    assert len(broken) == len(cert) and broken != cert
    return broken


def with_broken_signer_certificate(signed_message: bytes, cert: bytes, breakage: str) -> bytes:
    """A multipart/signed message (base64 signature part) whose embedded copy of ``cert`` is broken; nothing
    else changes, so the signature over the content still verifies with the certificate's key."""
    match = re.search(rb"application/pkcs7-signature[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--",
                      signed_message)
    assert match is not None, "no base64 signature part"
    signature = base64.b64decode(match.group(1))
    assert signature.count(cert) == 1, "the signer certificate is not in the signature"
    broken = signature.replace(cert, break_certificate(cert, breakage))
    encoded = base64.encodebytes(broken).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    return signed_message[: match.start(1)] + encoded + signed_message[match.end(1):]


__all__ = ["BREAKAGES", "break_certificate", "with_broken_signer_certificate"]

"""Certificates from an LDIF export of an address book (RFC 2849): userCertificate and userSMIMECertificate."""

from __future__ import annotations

import base64
import binascii

from cryptography import x509

from ..cms.identity import load_certificates
from ..errors import CertificateError

CERTIFICATE_ATTRIBUTES = ("usercertificate", "usersmimecertificate")


def looks_like_ldif(data: bytes) -> bool:
    head = data.lstrip()[:64].lower()
    return head.startswith((b"dn:", b"version:", b"#"))


def _logical_lines(text: str) -> list[str]:
    """Unfold RFC 2849 continuation lines (a line that starts with one space continues the previous one)."""
    lines: list[str] = []
    for raw in text.splitlines():
        if raw.startswith(" ") and lines:
            lines[-1] += raw[1:]
        elif raw.startswith("#"):
            continue
        else:
            lines.append(raw)
    return lines


def certificates_from_ldif(data: bytes) -> tuple[list[x509.Certificate], list[str]]:
    """Every certificate value in the LDIF, and a reason for each value that could not be used."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CertificateError("the LDIF file is not UTF-8 text") from None
    certs: list[x509.Certificate] = []
    skipped: list[str] = []
    dn = "?"
    for line in _logical_lines(text):
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            skipped.append(f"{dn}: a line is not 'attribute: value'")
            continue
        attribute = name.strip().lower()
        if attribute == "dn":
            dn = rest.lstrip(": ").strip()
            continue
        if attribute.split(";", 1)[0] not in CERTIFICATE_ATTRIBUTES:
            continue
        if rest.startswith("<"):
            skipped.append(f"{dn}: {name.strip()} refers to a URL, which is not fetched")
            continue
        if not rest.startswith(":"):
            skipped.append(f"{dn}: {name.strip()} is not base64 (binary values must be written with '::')")
            continue
        try:
            value = base64.b64decode("".join(rest[1:].split()), validate=True)
            certs.extend(load_certificates(value))
        except (binascii.Error, ValueError):
            skipped.append(f"{dn}: {name.strip()} has corrupt base64")
        except CertificateError as exc:
            skipped.append(f"{dn}: {name.strip()}: {exc.message}")
    return certs, skipped


__all__ = ["CERTIFICATE_ATTRIBUTES", "certificates_from_ldif", "looks_like_ldif"]

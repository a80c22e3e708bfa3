"""A certificate's fields as people and rules read them, from a certificate whose fields may not parse (RFC 5280 §4.1).

pyca ``cryptography`` loads a certificate without parsing its subject, issuer and extensions; it parses each when
first read, and raises ``ValueError`` then if its inner encoding is broken. A tampered signer certificate in a
message therefore loads, verifies the signature (its key is intact) and only fails later, in whatever reads a
name. ``unreadable_reason`` reads those fields once, up front, so that the judgement can refuse such a signer with
a reason; ``certificate_fields`` is the one way renderers (JSON, CLI text, stamps) read them, and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from ..cms.identity import fingerprint
from ..cms.names import name_text, serial_text
from .profile import certificate_emails

#: The fields pyca parses lazily, each with what reading it in full takes (a name is also written out).
_LAZY_FIELDS: tuple[tuple[str, Callable[[x509.Certificate], object]], ...] = (
    ("its subject is", lambda cert: name_text(cert.subject)),
    ("its issuer is", lambda cert: name_text(cert.issuer)),
    ("its extensions are", lambda cert: list(cert.extensions)),
)


_PARSE_ERRORS = (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def unreadable_reason(cert: x509.Certificate) -> str | None:
    """Why the signer's certificate cannot be read ("the signer's certificate cannot be parsed: its subject is
    malformed (...)"), or None when its subject, issuer and extensions all parse."""
    for field, read in _LAZY_FIELDS:
        try:
            read(cert)
        except _PARSE_ERRORS as exc:
            # pyca's parse errors: ValueError (UnicodeDecodeError is one too); found by fuzzing (tests/fuzz), a
            # TypeError for a BIT STRING name attribute under another OID than x500UniqueIdentifier, and
            # DuplicateExtension for an extension present twice (RFC 5280 §4.2 forbids it).
            return f"the signer's certificate cannot be parsed: {field} malformed ({exc})"
    return None


def _name(cert: x509.Certificate, read: Callable[[x509.Certificate], x509.Name]) -> str | None:
    try:
        return name_text(read(cert))
    except _PARSE_ERRORS:
        return None


@dataclass(frozen=True)
class CertificateFields:
    """What a report shows of a certificate; a name that cannot be parsed is None (the judgement says why)."""

    subject: str | None
    issuer: str | None
    serial: str
    fingerprint_sha256: str
    emails: tuple[str, ...]

    @property
    def label(self) -> str:
        """Who the certificate names, for one line: its addresses, else its subject, else its fingerprint."""
        if self.emails:
            return ", ".join(self.emails)
        return self.subject if self.subject is not None else f"certificate {self.fingerprint_sha256[:16]}"


def certificate_fields(cert: x509.Certificate) -> CertificateFields:
    """The shown fields of ``cert``; never raises for a certificate pyca loaded, whatever its fields hold."""
    return CertificateFields(
        subject=_name(cert, lambda c: c.subject),
        issuer=_name(cert, lambda c: c.issuer),
        serial=serial_text(cert.serial_number),
        fingerprint_sha256=fingerprint(cert),
        emails=tuple(certificate_emails(cert)),  # reads the SAN and subject defensively itself
    )


def subject_or_fingerprint(cert: x509.Certificate) -> str:
    """The subject as text, or "certificate <fingerprint prefix>" when the subject cannot be parsed."""
    subject = _name(cert, lambda c: c.subject)  # an empty subject (RFC 5280 §4.1.2.6) is shown as it is: ""
    return subject if subject is not None else f"certificate {fingerprint(cert)[:16]}"


__all__ = ["CertificateFields", "certificate_fields", "subject_or_fingerprint", "unreadable_reason"]

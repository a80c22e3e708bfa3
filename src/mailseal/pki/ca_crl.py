"""The internal CA's CRLs (RFC 5280 §5): CRL number, next update, AKI, and reason codes S/MIME BR allows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cryptography import x509

from .ca_keyfile import CAKey, signature_hash
from .ca_register import IssuedRecord

#: Revocation reasons S/MIME BR §4.9.1.1 allows for subscriber certificates (RFC 5280 §5.3.1 names).
REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}


def build_crl(issuer: x509.Certificate, ca_key: CAKey, number: int, records: Iterable[IssuedRecord], now: datetime,
              days: int) -> x509.CertificateRevocationList:
    """A full CRL listing every revoked record, valid from now for days."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    )
    for record in records:
        if record.revoked_at is None:
            continue
        entry = x509.RevokedCertificateBuilder().serial_number(record.serial).revocation_date(record.revoked_at)
        # RFC 5280 §5.3.1: the reason code extension is omitted rather than set to unspecified.
        if record.reason and record.reason != "unspecified":
            entry = entry.add_extension(x509.CRLReason(REASONS[record.reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, signature_hash(ca_key))


__all__ = ["REASONS", "build_crl"]

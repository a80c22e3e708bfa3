"""Fast certificates for store tests: one P-256 CA key and one leaf key, many certificates with different addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@cache
def _keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


def make_cert(email: str | None, *, days: int = 365, ca: bool = False, serial: int | None = None,
              key: ec.EllipticCurvePrivateKey | None = None) -> x509.Certificate:
    """A leaf certificate for ``email`` (SAN rfc822Name), valid from yesterday for ``days`` days."""
    ca_key, leaf_key = _keys()
    subject_key = key or leaf_key
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email or "no address")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "store test CA")]))
        .public_key(subject_key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    )
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())

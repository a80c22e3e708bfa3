"""S/MIME certificate profile checks (RFC 8550 §3, §4.4; RFC 9598): addresses, key usage, extended key usage."""

from __future__ import annotations

import contextlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

SMTP_UTF8_MAILBOX = ObjectIdentifier("1.3.6.1.5.5.7.8.9")


def certificate_emails(cert: x509.Certificate) -> list[str]:
    """rfc822Name and SmtpUTF8Mailbox from the SAN; the subject's PKCS#9 emailAddress only as a fallback."""
    out: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out.extend(san.get_values_for_type(x509.RFC822Name))
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id == SMTP_UTF8_MAILBOX:
                from asn1crypto import core

                try:
                    out.append(str(core.UTF8String.load(other.value).native))
                except Exception:
                    continue
    except (x509.ExtensionNotFound, ValueError):
        pass
    if not out:
        with contextlib.suppress(ValueError):
            out.extend(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS))
    return out


def normalize_address(addr: str) -> str:
    """RFC 8550 §3: the local part is compared exactly, the domain case-insensitively."""
    local, _, domain = addr.strip().rpartition("@")
    if not local:
        return addr.strip()
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain.lower()}"


def email_matches(addr: str, cert: x509.Certificate) -> bool:
    wanted = normalize_address(addr)
    return any(normalize_address(e) == wanted for e in certificate_emails(cert))


def _ku(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _eku_reason(cert: x509.Certificate) -> str | None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.EMAIL_PROTECTION in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return None
    return "the certificate's extended key usage does not include emailProtection"


def signing_usage_problems(cert: x509.Certificate) -> list[str]:
    """Reasons this certificate may not sign e-mail (empty when it may)."""
    problems = []
    eku = _eku_reason(cert)
    if eku:
        problems.append(eku)
    ku = _ku(cert)
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        problems.append("the certificate's key usage allows neither digitalSignature nor nonRepudiation")
    if isinstance(cert.public_key(), x25519.X25519PublicKey | x448.X448PublicKey):
        problems.append("an X25519/X448 key cannot sign")
    return problems


def encryption_usage_problems(cert: x509.Certificate) -> list[str]:
    """Reasons this certificate may not receive encrypted e-mail (empty when it may)."""
    problems = []
    eku = _eku_reason(cert)
    if eku:
        problems.append(eku)
    key = cert.public_key()
    ku = _ku(cert)
    if isinstance(key, rsa.RSAPublicKey):
        if ku is not None and not ku.key_encipherment:
            problems.append("the certificate's key usage does not allow keyEncipherment")
    elif isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        if ku is not None and not ku.key_agreement:
            problems.append("the certificate's key usage does not allow keyAgreement")
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        problems.append("an Ed25519/Ed448 key can only sign")
    else:
        problems.append(f"a {type(key).__name__} cannot receive encrypted mail")
    return problems


def weak_key_reason(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return f"the signer's RSA key has only {key.key_size} bits (at least 2048 are expected)"
    return None


__all__ = [
    "certificate_emails",
    "email_matches",
    "encryption_usage_problems",
    "normalize_address",
    "signing_usage_problems",
    "weak_key_reason",
]

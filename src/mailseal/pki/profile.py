"""S/MIME certificate profile checks: RFC 8550 §3 and §4.4, RFC 9598, CA/Browser Forum S/MIME BR §6.1.5, §7.1.2.3.

``check_certificate`` gives one structured verdict (can it sign, can it receive encrypted mail, for which addresses,
and why not); the smaller functions below it answer one question each and are used by verification and enveloping.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

#: id-on-SmtpUTF8Mailbox (RFC 9598 §3): an otherName carrying an address with a non-ASCII local part.
SMTP_UTF8_MAILBOX = ObjectIdentifier("1.3.6.1.5.5.7.8.9")

#: Smallest RSA modulus accepted (S/MIME BR §6.1.5; RFC 8550 §4.3 says "SHOULD NOT be smaller than 2048").
MIN_RSA_BITS = 2048

#: Named curves S/MIME BR §6.1.5 and RFC 8551 §2 allow for ECDSA and ECDH.
ALLOWED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


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
    except (x509.ExtensionNotFound, ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        pass  # no SAN, or extensions pyca cannot parse (a duplicated one: found by fuzzing, tests/fuzz)
    if not out:
        with contextlib.suppress(ValueError, TypeError):
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
    """Whether ``addr`` is one of the certificate's addresses (RFC 8550 §3 comparison)."""
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


def _public_key(cert: x509.Certificate) -> Any:
    """The certificate's public key, or None for a key type pyca cannot load (ML-DSA, ML-KEM, a garbled key):
    such a certificate is judged by what can be read of it, never a traceback (found by fuzzing, tests/fuzz)."""
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return None


def signing_usage_problems(cert: x509.Certificate) -> list[str]:
    """Reasons this certificate may not sign e-mail (empty when it may)."""
    problems = []
    eku = _eku_reason(cert)
    if eku:
        problems.append(eku)
    ku = _ku(cert)
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        problems.append("the certificate's key usage allows neither digitalSignature nor nonRepudiation")
    if isinstance(_public_key(cert), x25519.X25519PublicKey | x448.X448PublicKey):
        problems.append("an X25519/X448 key cannot sign")
    return problems


def encryption_usage_problems(cert: x509.Certificate) -> list[str]:
    """Reasons this certificate may not receive encrypted e-mail (empty when it may)."""
    problems = []
    eku = _eku_reason(cert)
    if eku:
        problems.append(eku)
    key = _public_key(cert)
    ku = _ku(cert)
    if isinstance(key, rsa.RSAPublicKey):
        if ku is not None and not ku.key_encipherment:
            problems.append("the certificate's key usage does not allow keyEncipherment")
    elif isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        if ku is not None and not ku.key_agreement:
            problems.append("the certificate's key usage does not allow keyAgreement")
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        problems.append("an Ed25519/Ed448 key can only sign")
    elif key is None:
        problems.append(f"a {describe_key(cert)} key cannot receive encrypted mail")
    else:
        problems.append(f"a {type(key).__name__} cannot receive encrypted mail")
    return problems


def weak_key_reason(cert: x509.Certificate) -> str | None:
    """Why the signer's key is too weak to trust a signature with, or None."""
    key = _public_key(cert)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"the signer's RSA key has only {key.key_size} bits (at least {MIN_RSA_BITS} are expected)"
    return None


def key_problems(cert: x509.Certificate) -> list[str]:
    """Reasons the public key itself is not allowed for S/MIME (S/MIME BR §6.1.5): size, curve, algorithm."""
    key = _public_key(cert)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return [f"the RSA key has only {key.key_size} bits (at least {MIN_RSA_BITS} are required)"]
        return []
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ALLOWED_CURVES:
            return [f"the curve {key.curve.name} is not allowed for S/MIME (P-256, P-384, P-521 are)"]
        return []
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey | x25519.X25519PublicKey
                  | x448.X448PublicKey):
        return []
    return [f"a {describe_key(cert)} key is not allowed for S/MIME"]


def describe_key(cert: x509.Certificate) -> str:
    """Short human name of the certificate's key: ``RSA 3072``, ``EC secp256r1``, ``Ed25519``...; for a key
    pyca cannot load, its algorithm's OID."""
    key = _public_key(cert)
    if key is None:
        try:
            return f"unsupported ({cert.public_key_algorithm_oid.dotted_string})"
        except ValueError:
            return "unreadable"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    names: list[tuple[type[Any], str]] = [
        (ed25519.Ed25519PublicKey, "Ed25519"),
        (ed448.Ed448PublicKey, "Ed448"),
        (x25519.X25519PublicKey, "X25519"),
        (x448.X448PublicKey, "X448"),
    ]
    for kind, name in names:
        if isinstance(key, kind):
            return name
    return type(key).__name__.removeprefix("_")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def validity_problems(cert: x509.Certificate, at: datetime | None = None) -> list[str]:
    """Why the certificate is not valid at ``at`` (default now): expired or not yet valid."""
    moment = at or datetime.now(UTC)
    if moment > cert.not_valid_after_utc:
        return [f"the certificate expired on {cert.not_valid_after_utc.isoformat()}"]
    if moment < cert.not_valid_before_utc:
        return [f"the certificate is not valid before {cert.not_valid_before_utc.isoformat()}"]
    return []


@dataclass(frozen=True)
class ProfileVerdict:
    """What a certificate may be used for in S/MIME, with the reasons when it may not.

    ``address_matches`` is None when no address was asked about. When one was and it does not match, both
    ``can_sign`` and ``can_encrypt`` are False with that reason: the certificate is no use for that address.
    """

    can_sign: bool
    can_encrypt: bool
    addresses: tuple[str, ...]
    reasons_sign: list[str] = field(default_factory=list)
    reasons_encrypt: list[str] = field(default_factory=list)
    address_matches: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "can_sign": self.can_sign,
            "can_encrypt": self.can_encrypt,
            "addresses": list(self.addresses),
            "address_matches": self.address_matches,
            "reasons_sign": list(self.reasons_sign),
            "reasons_encrypt": list(self.reasons_encrypt),
        }


def check_certificate(cert: x509.Certificate, email: str | None = None, at: datetime | None = None) -> ProfileVerdict:
    """Judge a certificate against RFC 8550 and the S/MIME BR profile, for ``email`` when given, at ``at``.

    Checks, for both purposes: an e-mail address (SAN rfc822Name / SmtpUTF8Mailbox, else PKCS#9
    emailAddress), an end-entity certificate, the validity period, an allowed key (RSA >= 2048, P-256/384/521,
    Ed25519/Ed448, X25519/X448), EKU emailProtection or anyExtendedKeyUsage; then the key usage per purpose.
    Path validation and revocation are not part of the profile: see ``mailseal.pki.validation``.
    """
    addresses = tuple(certificate_emails(cert))
    common: list[str] = []
    if not addresses:
        common.append("the certificate carries no e-mail address (no rfc822Name, SmtpUTF8Mailbox or emailAddress)")
    matches: bool | None = None
    if email is not None:
        matches = email_matches(email, cert)
        if not matches and addresses:
            common.append(f"{email} is not an address of the certificate ({', '.join(addresses)})")
        elif not matches:
            common.append(f"{email} is not an address of the certificate")
    if _is_ca(cert):
        common.append("the certificate is a CA certificate, not an end-entity certificate")
    common.extend(validity_problems(cert, at))
    common.extend(key_problems(cert))
    reasons_sign = [*common, *signing_usage_problems(cert)]
    reasons_encrypt = [*common, *encryption_usage_problems(cert)]
    return ProfileVerdict(
        can_sign=not reasons_sign,
        can_encrypt=not reasons_encrypt,
        addresses=addresses,
        reasons_sign=reasons_sign,
        reasons_encrypt=reasons_encrypt,
        address_matches=matches,
    )


__all__ = [
    "ALLOWED_CURVES",
    "MIN_RSA_BITS",
    "SMTP_UTF8_MAILBOX",
    "ProfileVerdict",
    "certificate_emails",
    "check_certificate",
    "describe_key",
    "email_matches",
    "encryption_usage_problems",
    "key_problems",
    "normalize_address",
    "signing_usage_problems",
    "validity_problems",
    "weak_key_reason",
]

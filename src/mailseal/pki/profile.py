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
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ..cms.kemri import kem_name
from ..cms.signing import ml_dsa_name

#: id-on-SmtpUTF8Mailbox (RFC 9598 §3): an otherName carrying an address with a non-ASCII local part.
SMTP_UTF8_MAILBOX = ObjectIdentifier("1.3.6.1.5.5.7.8.9")

#: Smallest RSA modulus accepted (S/MIME BR §6.1.5; RFC 8550 §4.3 says "SHOULD NOT be smaller than 2048").
MIN_RSA_BITS = 2048
MIN_LEGACY_RSA_BITS = 1024  # the floor even when RSA below 2048 bits is allowed

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


def public_key_of(cert: x509.Certificate) -> Any:
    """The certificate's public key, or None when pyca/cryptography cannot build it (ML-KEM-512, SLH-DSA,
    HashML-DSA keys, a corrupt key): such a certificate can neither sign nor receive mail here."""
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return None


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
    key = public_key_of(cert)
    if key is None:
        problems.append(f"the certificate's key algorithm ({describe_key(cert)}) is not supported")
    if isinstance(key, x25519.X25519PublicKey | x448.X448PublicKey):
        problems.append("an X25519/X448 key cannot sign")
    if kem_name(key) is not None:
        problems.append("an ML-KEM key cannot sign (RFC 9935 §5)")
    return problems


def encryption_usage_problems(cert: x509.Certificate) -> list[str]:
    """Reasons this certificate may not receive encrypted e-mail (empty when it may)."""
    problems = []
    eku = _eku_reason(cert)
    if eku:
        problems.append(eku)
    key = public_key_of(cert)
    ku = _ku(cert)
    if key is None:
        problems.append(f"the certificate's key algorithm ({describe_key(cert)}) is not supported")
    elif isinstance(key, rsa.RSAPublicKey):
        if ku is not None and not ku.key_encipherment:
            problems.append("the certificate's key usage does not allow keyEncipherment")
    elif isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        if ku is not None and not ku.key_agreement:
            problems.append("the certificate's key usage does not allow keyAgreement")
    elif kem_name(key) is not None:
        if ku is not None and not ku.key_encipherment:
            problems.append("the certificate's key usage does not allow keyEncipherment")
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        problems.append("an Ed25519/Ed448 key can only sign")
    elif key is None:
        problems.append(f"a {describe_key(cert)} key cannot receive encrypted mail")
    elif ml_dsa_name(key) is not None:
        problems.append("an ML-DSA key can only sign (RFC 9881 §5)")
    else:
        problems.append(f"a {type(key).__name__} cannot receive encrypted mail")
    return problems


def weak_key_reason(cert: x509.Certificate, allow_legacy: frozenset[str] = frozenset()) -> str | None:
    """Why the signer's key is too weak to trust a signature with, or None. ``allow_legacy`` ("rsa1024", "dsa")
    accepts RSA keys from 1024 bits and DSA keys by explicit choice (cms.algorithms.LEGACY_ALGORITHMS)."""
    key = public_key_of(cert)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        if "rsa1024" in allow_legacy and key.key_size >= MIN_LEGACY_RSA_BITS:
            return None
        return f"the signer's RSA key has only {key.key_size} bits (at least {MIN_RSA_BITS} are expected)"
    if isinstance(key, dsa.DSAPublicKey) and "dsa" not in allow_legacy:
        return (f"the signer's key is a {key.key_size}-bit DSA key: DSA is no longer used for S/MIME "
                "(RFC 8551 §2.2); --allow-legacy dsa accepts it for archives")
    return None


def key_problems(cert: x509.Certificate) -> list[str]:
    """Reasons the public key itself is not allowed for S/MIME (S/MIME BR §6.1.5): size, curve, algorithm."""
    key = public_key_of(cert)
    if key is None:
        return []  # signing_usage_problems and encryption_usage_problems say it, naming the algorithm
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
    if ml_dsa_name(key) is not None or kem_name(key) is not None:
        return _pq_key_usage_problems(cert)
    return [f"a {describe_key(cert)} key is not allowed for S/MIME"]


# RFC 9881 §5: an ML-DSA certificate's key usage holds only signing bits; RFC 9935 §5: ML-KEM's only keyEncipherment.
_ML_DSA_USAGES = frozenset({"digital_signature", "content_commitment", "key_cert_sign", "crl_sign"})
_ML_KEM_USAGES = frozenset({"key_encipherment"})
_USAGE_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                "key_cert_sign", "crl_sign")


def _pq_key_usage_problems(cert: x509.Certificate) -> list[str]:
    ku = _ku(cert)
    if ku is None:
        return []
    present = {name for name in _USAGE_NAMES if getattr(ku, name)}
    if ku.key_agreement:
        present |= {n for n in ("encipher_only", "decipher_only") if getattr(ku, n)}
    if ml_dsa_name(public_key_of(cert)) is not None:
        allowed, rule, who = _ML_DSA_USAGES, "RFC 9881 §5", "ML-DSA"
    else:
        allowed, rule, who = _ML_KEM_USAGES, "RFC 9935 §5", "ML-KEM"
    extra = sorted(present - allowed)
    if extra:
        return [f"an {who} certificate's key usage must not include {', '.join(extra)} ({rule})"]
    if not present:
        return [f"an {who} certificate's key usage is empty ({rule})"]
    return []


def describe_key(cert: x509.Certificate) -> str:
    """Short human name of the certificate's key: ``RSA 3072``, ``EC secp256r1``, ``Ed25519``..."""
    key = public_key_of(cert)
    if key is None:
        return _key_oid_name(cert)
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
    pq = ml_dsa_name(key) or kem_name(key)
    if pq is not None:
        return pq.upper()
    for kind, name in names:
        if isinstance(key, kind):
            return name
    return type(key).__name__.removeprefix("_")


def _key_oid_name(cert: x509.Certificate) -> str:
    """The name of a key algorithm pyca cannot load, from the SubjectPublicKeyInfo's OID (read from the DER:
    asn1crypto cannot parse a public key of an algorithm it does not know)."""
    from asn1crypto import core

    from ..cms import der
    from ..cms.algorithms import PQ_KEY_NAMES
    from ..errors import MalformedCMSError

    try:
        fields = der.children(der.children(cert.public_bytes(Encoding.DER))[0])
        fields = fields[1:] if fields[0][:1] == b"\xa0" else fields  # [0] version
        oid = str(core.ObjectIdentifier.load(der.children(der.children(fields[5])[0])[0]).dotted)
    except (MalformedCMSError, ValueError, IndexError):
        return "unreadable"
    name: str = PQ_KEY_NAMES.get(oid, oid)
    return name.replace("_", "-").upper()


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
    Ed25519/Ed448, X25519/X448, ML-DSA-44/65/87 and ML-KEM-768/1024 with their RFC 9881/9935 key usage), EKU emailProtection or anyExtendedKeyUsage; then the key usage per purpose.
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
    "public_key_of",
    "signing_usage_problems",
    "validity_problems",
    "weak_key_reason",
]

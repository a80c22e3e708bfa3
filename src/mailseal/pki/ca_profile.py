"""What the internal CA writes in a certificate: the S/MIME BR mailbox-validated strict profile.

Profile (S/MIME BR §7.1.2.3, RFC 8550 §4.4, RFC 5280 §4.2): separate signing and encryption certificates, or
dual-use on request (BR §7.1.2.3 (e): digitalSignature [+ nonRepudiation] to sign; keyEncipherment for RSA or
keyAgreement for EC to encrypt); EKU emailProtection only; SAN rfc822Name, or SmtpUTF8Mailbox (RFC 9598 §3) for a
non-ASCII local part; subject holding only the mailbox (commonName, emailAddress; BR §7.1.4.2.2); the
certificatePolicies OID 2.23.140.1.5.1.3 (mailbox-validated strict, BR §7.1.6.1); validity <= 825 days
(BR §6.3.2); serials of 159 random bits (BR §7.1: at least 64); SKI and AKI; CRL distribution point and
AIA OCSP only when configured. The CA's own certificate and its delegated OCSP responder's are built here too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from asn1crypto import core as a_core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ..errors import UsageError
from .ca_files import CAConfig
from .ca_keyfile import CAKey, MLDSAKey, MLKEMKey, UserKey, signature_hash
from .profile import SMTP_UTF8_MAILBOX

Usage = Literal["sign", "encrypt", "dual"]
USAGES: tuple[Usage, ...] = ("sign", "encrypt", "dual")

#: S/MIME BR §6.3.2: a subscriber certificate is valid for at most 825 days.
MAX_VALIDITY_DAYS = 825
#: S/MIME BR §7.1.6.1: mailbox-validated, strict.
MAILBOX_VALIDATED_STRICT = ObjectIdentifier("2.23.140.1.5.1.3")
#: RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck, so clients do not check the delegated responder's own status.
OCSP_NO_CHECK = ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")
#: Certificates are backdated a little so a relying party whose clock is slightly behind accepts them at once.
BACKDATE = timedelta(minutes=5)


def mailbox_names(address: str) -> tuple[x509.GeneralName, str, bool]:
    """(SAN entry, address as written in the certificate, ASCII?) for a mailbox address.

    An ASCII local part becomes an rfc822Name with the domain in A-labels (RFC 5280 §7.5); a non-ASCII one an
    SmtpUTF8Mailbox otherName (RFC 9598 §3), whose domain part is also written in A-labels.
    """
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>()[],;:\"\\" for c in address):
        raise UsageError(f"{address!r} is not a plain mailbox address (local@domain)")
    try:
        a_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UsageError(f"the domain of {address!r} is not a valid (internationalized) domain name") from None
    if "." not in a_domain:
        raise UsageError(f"the domain of {address!r} is not fully qualified")
    written = f"{local}@{a_domain}"
    if local.isascii():
        return x509.RFC822Name(written), written, True
    return x509.OtherName(SMTP_UTF8_MAILBOX, a_core.UTF8String(written).dump()), written, False


def user_key_usage(key: UserKey, usage: str) -> x509.KeyUsage:
    """S/MIME BR §7.1.2.3 (e) key usage for the strict profile; RFC 9881 §5 (ML-DSA: signing bits only) and
    RFC 9935 §5 (ML-KEM: keyEncipherment only)."""
    sign = usage in ("sign", "dual")
    encrypt = usage in ("encrypt", "dual")
    if isinstance(key, MLDSAKey) and encrypt:
        raise UsageError("an ML-DSA key can only sign (RFC 9881 §5): use --usage sign, and an ML-KEM key to encrypt")
    if isinstance(key, MLKEMKey) and sign:
        raise UsageError("an ML-KEM key can only decrypt (RFC 9935 §5): use --usage encrypt")
    transport = isinstance(key, rsa.RSAPrivateKey | MLKEMKey)
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=encrypt and transport,
        data_encipherment=False,
        key_agreement=encrypt and not transport,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def ca_certificate(key: CAKey, name: str, now: datetime, days: int) -> x509.Certificate:
    """The CA's self-signed certificate (RFC 5280 §4.2.1.9, §4.2.1.3)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        # digitalSignature: the CA signs OCSP responses itself (S/MIME BR §7.1.2.1 (e)).
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, signature_hash(key))
    )


def subscriber_certificate(
    issuer: x509.Certificate,
    ca_key: CAKey,
    config: CAConfig,
    key: UserKey,
    *,
    serial: int,
    san: x509.GeneralName,
    written: str,
    ascii_mailbox: bool,
    usage: str,
    common_name: bool,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A mailbox-validated strict subscriber certificate (S/MIME BR §7.1.2.3) for key, signed by ca_key."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, written)] if common_name else []
    if ascii_mailbox:
        # emailAddress is an IA5String, so an internationalized mailbox can only be in the commonName.
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, written))
    if not attrs:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, written))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(user_key_usage(key, usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(MAILBOX_VALIDATED_STRICT, None)]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    )
    if config.crl_url:
        dp = x509.DistributionPoint([x509.UniformResourceIdentifier(config.crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([dp]), critical=False)
    if config.ocsp_url:
        aia = x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                     x509.UniformResourceIdentifier(config.ocsp_url))
        builder = builder.add_extension(x509.AuthorityInformationAccess([aia]), critical=False)
    return builder.sign(ca_key, signature_hash(ca_key))


def ocsp_responder_certificate(issuer: x509.Certificate, ca_key: CAKey, name: str, key: CAKey, now: datetime,
                               days: int) -> x509.Certificate:
    """A short-lived delegated OCSP responder certificate (RFC 6960 §4.2.2.2): id-kp-OCSPSigning, ocsp-nocheck."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} OCSP responder")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + timedelta(days=days), issuer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.UnrecognizedExtension(OCSP_NO_CHECK, b"\x05\x00"), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
        .sign(ca_key, signature_hash(ca_key))
    )


__all__ = [
    "BACKDATE",
    "MAILBOX_VALIDATED_STRICT",
    "MAX_VALIDITY_DAYS",
    "OCSP_NO_CHECK",
    "USAGES",
    "Usage",
    "ca_certificate",
    "mailbox_names",
    "ocsp_responder_certificate",
    "subscriber_certificate",
    "user_key_usage",
]

"""Build CMS SignedData (RFC 5652 §5) with the signed attributes RFC 8551 §2.5 asks for, detached or streamed.

The structures are assembled from DER pieces by hand: on a 1 KiB message, building them with a generic ASN.1
library costs many times the RSA signature itself. Everything that depends only on the signer is computed once
per certificate and cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, padding, rsa

if TYPE_CHECKING:
    from asn1crypto import x509 as a_x509

from ..errors import SignerError, UnsupportedAlgorithmError, UsageError
from . import der
from .algorithms import (
    CAPABILITY_OIDS,
    DIGEST_OIDS,
    ECDSA_OIDS,
    ML_DSA_DIGEST,
    ML_DSA_OIDS,
    OID_CONTENT_TYPE,
    OID_ED25519,
    OID_MESSAGE_DIGEST,
    OID_RSA_ENCRYPTION,
    OID_SIGNING_CERTIFICATE_V2,
    OID_SIGNING_TIME,
    OID_SMIME_CAPABILITIES,
    SIGNING_DIGESTS,
    ContentKind,
    hash_algorithm,
)
from .identity import Identity

CHUNK = 1 << 20


def to_asn1_cert(cert: x509.Certificate) -> a_x509.Certificate:
    from asn1crypto import x509 as a_x509

    return a_x509.Certificate.load(cert_der(cert))


@lru_cache(maxsize=1024)
def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def new_hash(name: str) -> hashlib._Hash:
    return hashlib.new(name.replace("_", "-") if name.startswith("sha3") else name)



def _attribute(oid: str, value: bytes) -> bytes:
    return der.seq(der.oid(oid), der.set_of(value))


@lru_cache(maxsize=1)
def smime_capabilities_attr() -> bytes:
    """RFC 8551 §2.5.2: our preferences, strongest first (a SEQUENCE OF, so the order is kept)."""
    caps = b"".join(der.seq(der.oid(o)) for o in CAPABILITY_OIDS)
    return _attribute(OID_SMIME_CAPABILITIES, der.seq(caps))


def _signing_time(when: datetime) -> bytes:
    # RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    when = when.astimezone(UTC)
    if 1950 <= when.year < 2050:
        return der.tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return der.tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


@dataclass(frozen=True)
class SignerTemplate:
    """Everything about a signer that does not change from message to message, in DER."""

    sid: bytes  # IssuerAndSerialNumber
    signing_certificate_v2: bytes  # the attribute (RFC 5035 §3)
    certificate: bytes
    chain: tuple[bytes, ...]


@lru_cache(maxsize=256)
def _template(certificate: bytes, chain: tuple[bytes, ...]) -> SignerTemplate:
    cert = x509.load_der_x509_certificate(certificate)
    issuer = cert.issuer.public_bytes()
    serial = der.integer(cert.serial_number)
    sid = der.seq(issuer, serial)
    # ESSCertIDv2 with SHA-256, the DEFAULT hash algorithm, which DER therefore omits.
    general_names = der.seq(der.tlv(0xA4, issuer))
    ess_cert_id = der.seq(der.octet_string(hashlib.sha256(certificate).digest()), der.seq(general_names, serial))
    attr = _attribute(OID_SIGNING_CERTIFICATE_V2, der.seq(der.seq(ess_cert_id)))
    return SignerTemplate(sid, attr, certificate, chain)


def signer_template(identity: Identity) -> SignerTemplate:
    return _template(cert_der(identity.certificate), tuple(cert_der(c) for c in identity.chain))


@lru_cache(maxsize=16)
def _pss_algorithm(digest: str) -> bytes:
    from asn1crypto import algos  # signing builds its DER itself: asn1crypto is loaded for PSS parameters only

    params = algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": digest},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": digest}},
            "salt_length": hash_algorithm(digest).digest_size,
        }
    )
    return bytes(algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params}).dump())


def _signature_algorithm(identity: Identity, digest: str, pss: bool) -> tuple[str, bytes]:
    """The digest actually used and the DER signatureAlgorithm for this key."""
    key = identity.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SignerError(f"RSA keys shorter than 2048 bits are not used for signing (this one: {key.key_size})")
        if pss:
            return digest, _pss_algorithm(digest)
        # rsaEncryption as signatureAlgorithm is what OpenSSL, NSS and gpgsm send (RFC 3370 §3.2).
        return digest, der.seq(der.oid(OID_RSA_ENCRYPTION), b"\x05\x00")
    if pss:
        raise UsageError("--pss applies to RSA keys only")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return digest, der.seq(der.oid(ECDSA_OIDS[digest]))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # RFC 8419 §3.1: with signed attributes, the message digest for Ed25519 MUST be SHA-512.
        return "sha512", der.seq(der.oid(OID_ED25519))
    name = ml_dsa_name(key)
    if name is not None:
        # RFC 9882 §3.3: SHA-512 for the message digest with every parameter set; pure ML-DSA, parameters absent.
        return ML_DSA_DIGEST, der.seq(der.oid(ML_DSA_OIDS[name]))
    if isinstance(key, ed448.Ed448PrivateKey):
        raise UnsupportedAlgorithmError("Ed448 signing needs SHAKE256, which is not supported yet")
    raise SignerError(f"a {type(key).__name__} cannot sign (key agreement keys only decrypt)")


def ml_dsa_name(key: object) -> str | None:
    """The ML-DSA parameter set of a pyca key (private or public); None for any other key."""
    if isinstance(key, mldsa.MLDSA44PrivateKey | mldsa.MLDSA44PublicKey):
        return "ml-dsa-44"
    if isinstance(key, mldsa.MLDSA65PrivateKey | mldsa.MLDSA65PublicKey):
        return "ml-dsa-65"
    if isinstance(key, mldsa.MLDSA87PrivateKey | mldsa.MLDSA87PublicKey):
        return "ml-dsa-87"
    return None


def _raw_sign(identity: Identity, data: bytes, digest: str, pss: bool) -> bytes:
    key = identity.private_key
    h = hash_algorithm(digest)
    if isinstance(key, rsa.RSAPrivateKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if pss else padding.PKCS1v15()
        )
        return key.sign(data, pad, h)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(h))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey):
        return key.sign(data)  # RFC 9882 §3.2: pure mode over the DER signed attributes, empty context
    raise SignerError(f"a {type(key).__name__} cannot sign")


def _check_signer(cert: x509.Certificate) -> None:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (ku.digital_signature or ku.content_commitment):
        raise SignerError("the signer certificate's key usage allows neither digitalSignature nor nonRepudiation")


@dataclass(frozen=True)
class SignPlan:
    """What a signature needs before the content is seen: the digest to compute and how to finish."""

    identity: Identity
    digest: str
    pss: bool
    signature_algorithm: bytes
    template: SignerTemplate
    certificates: tuple[bytes, ...]
    signing_time: datetime | None
    capabilities: bool = True  # send the SMIMECapabilities attribute (RFC 8551 §2.5.2 SHOULD)

    def new_hash(self) -> hashlib._Hash:
        return new_hash(self.digest)

    @property
    def digest_algorithm(self) -> bytes:
        return der.seq(der.oid(DIGEST_OIDS[self.digest]))

    def signer_info(self, message_digest: bytes) -> bytes:
        """SignerInfo (RFC 5652 §5.3) over the content's digest."""
        attrs = [
            _attribute(OID_CONTENT_TYPE, ContentKind.DATA.der),
            _attribute(OID_SIGNING_TIME, _signing_time(self.signing_time or datetime.now(UTC))),
            _attribute(OID_MESSAGE_DIGEST, der.octet_string(message_digest)),
            *([smime_capabilities_attr()] if self.capabilities else []),
            self.template.signing_certificate_v2,
        ]
        # The signature covers the DER SET OF (sorted) attributes (RFC 5652 §5.4); the field is [0] IMPLICIT.
        to_be_signed = der.set_of(*attrs)
        signature = _raw_sign(self.identity, to_be_signed, self.digest, self.pss)
        return der.seq(
            der.integer(1),
            self.template.sid,
            self.digest_algorithm,
            b"\xa0" + to_be_signed[1:],
            self.signature_algorithm,
            der.octet_string(signature),
        )

    def certificates_field(self) -> bytes:
        return der.tlv(0xA0, b"".join(sorted(self.certificates))) if self.certificates else b""


def plan_signature(
    identity: Identity,
    *,
    digest: str = "sha256",
    pss: bool = False,
    include_certs: bool = True,
    include_chain: bool = True,
    signing_time: datetime | None = None,
    extra_certs: Iterable[x509.Certificate] = (),
    capabilities: bool = True,
) -> SignPlan:
    """What signing with this identity needs. ``capabilities=False`` leaves out SMIMECapabilities, which RFC 8551
    §2.5.2 says SHOULD be sent (Exchange's OWAIncludeSMIMECapabilitiesInMessage off)."""
    if digest not in SIGNING_DIGESTS:
        raise UsageError(f"digest {digest!r} is not offered for signing; choose one of {', '.join(SIGNING_DIGESTS)}")
    _check_signer(identity.certificate)
    digest, sig_alg = _signature_algorithm(identity, digest, pss)
    template = signer_template(identity)
    certs: list[bytes] = []
    if include_certs:
        certs.append(template.certificate)
        if include_chain:
            certs.extend(c for c in template.chain if c not in certs)
        certs.extend(cert_der(c) for c in extra_certs)
    return SignPlan(identity, digest, pss, sig_alg, template, tuple(certs), signing_time, capabilities)


def detached_signed_data(plan: SignPlan, message_digest: bytes) -> bytes:
    """DER ContentInfo(SignedData) without eContent, for multipart/signed (RFC 8551 §3.5.3)."""
    signed = der.seq(
        der.integer(1),
        der.set_of(plan.digest_algorithm),
        der.seq(ContentKind.DATA.der),
        plan.certificates_field(),
        der.set_of(plan.signer_info(message_digest)),
    )
    return der.seq(ContentKind.SIGNED_DATA.der, der.tlv(0xA0, signed))


def stream_signed_data(plan: SignPlan, chunks: Iterable[bytes], write: Callable[[bytes], object]) -> None:
    """Write an encapsulating SignedData in indefinite-length BER, hashing the content as it passes."""
    h = plan.new_hash()
    write(
        der.indefinite(0x30) + ContentKind.SIGNED_DATA.der + der.indefinite(0xA0)
        + der.indefinite(0x30) + der.integer(1) + der.set_of(plan.digest_algorithm)
        + der.indefinite(0x30) + ContentKind.DATA.der + der.indefinite(0xA0) + der.indefinite(0x24)
    )
    pending = bytearray()
    for chunk in chunks:
        if chunk:
            h.update(chunk)
            pending += chunk
            if len(pending) >= CHUNK:
                write(der.octet_string(bytes(pending)))
                pending.clear()
    if pending:
        write(der.octet_string(bytes(pending)))
    write(der.EOC + der.EOC + der.EOC)  # eContent octets, [0], EncapsulatedContentInfo
    write(plan.certificates_field() + der.set_of(plan.signer_info(h.digest())) + der.EOC + der.EOC + der.EOC)


def sign_data(
    content: bytes | BinaryIO,
    identity: Identity,
    *,
    digest: str = "sha256",
    pss: bool = False,
    detached: bool = True,
    include_certs: bool = True,
    include_chain: bool = True,
    signing_time: datetime | None = None,
    extra_certs: Iterable[x509.Certificate] = (),
    capabilities: bool = True,
) -> bytes:
    """Sign content and return a ContentInfo(SignedData): DER when detached, BER when encapsulating.

    Low level: prefer ``mailseal.sign``.
    """
    plan = plan_signature(
        identity, digest=digest, pss=pss, include_certs=include_certs, include_chain=include_chain,
        signing_time=signing_time, extra_certs=extra_certs, capabilities=capabilities,
    )
    if isinstance(content, bytes | bytearray | memoryview):
        chunks: Iterable[bytes] = [bytes(content)]
    else:
        chunks = iter(lambda: content.read(CHUNK), b"")
    if detached:
        h = plan.new_hash()
        for chunk in chunks:
            h.update(chunk)
        return detached_signed_data(plan, h.digest())
    out: list[bytes] = []
    stream_signed_data(plan, chunks, out.append)
    return b"".join(out)


__all__ = [
    "SignPlan",
    "cert_der",
    "detached_signed_data",
    "ml_dsa_name",
    "new_hash",
    "plan_signature",
    "sign_data",
    "stream_signed_data",
    "to_asn1_cert",
]

"""Build CMS SignedData (RFC 5652 §5) with the signed attributes RFC 8551 §2.5 asks for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import BinaryIO

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from ..errors import SignerError, UnsupportedAlgorithmError, UsageError
from . import asn1 as _asn1  # noqa: F401  (registers OIDs)
from .algorithms import CAPABILITY_OIDS, SIGNING_DIGESTS, hash_algorithm
from .identity import Identity

CHUNK = 1 << 20


def to_asn1_cert(cert: x509.Certificate) -> a_x509.Certificate:
    return a_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def digest_stream(name: str, data: bytes | BinaryIO) -> bytes:
    """Hash bytes or a binary stream in chunks (hashlib releases the GIL on large updates)."""
    h = hashlib.new(name.replace("_", "-") if name.startswith("sha3") else name)
    if isinstance(data, bytes | bytearray | memoryview):
        h.update(data)
    else:
        while chunk := data.read(CHUNK):
            h.update(chunk)
    return h.digest()


def smime_capabilities() -> cms.CMSAttribute:
    """RFC 8551 §2.5.2: our preferences, strongest first."""
    caps = [{"capability_id": oid} for oid in CAPABILITY_OIDS]
    return cms.CMSAttribute({"type": "smime_capabilities", "values": [caps]})


def signing_certificate_v2(cert: a_x509.Certificate) -> cms.CMSAttribute:
    """RFC 5035 §3: ESSCertIDv2 binds the signer certificate (SHA-256, the DEFAULT hash, so it is omitted)."""
    issuer_serial = {
        "issuer": [a_x509.GeneralName(name="directory_name", value=cert.issuer)],
        "serial_number": cert.serial_number,
    }
    cert_id = tsp.ESSCertIDv2(
        {"cert_hash": hashlib.sha256(cert.dump()).digest(), "issuer_serial": issuer_serial}
    )
    return cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [cert_id]}]})


def _signature_algorithm(identity: Identity, digest: str, pss: bool) -> tuple[str, cms.SignedDigestAlgorithm]:
    key = identity.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SignerError(f"RSA keys shorter than 2048 bits are not used for signing (this one: {key.key_size})")
        if pss:
            params = algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": digest},
                    "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": digest}},
                    "salt_length": hash_algorithm(digest).digest_size,
                }
            )
            return digest, cms.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
        # rsaEncryption as signatureAlgorithm is what OpenSSL, NSS and gpgsm send (RFC 3370 §3.2).
        return digest, cms.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
    if pss:
        raise UsageError("--pss applies to RSA keys only")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return digest, cms.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # RFC 8419 §3.1: with signed attributes, the message digest for Ed25519 MUST be SHA-512.
        return "sha512", cms.SignedDigestAlgorithm({"algorithm": "ed25519"})
    if isinstance(key, ed448.Ed448PrivateKey):
        raise UnsupportedAlgorithmError("Ed448 signing needs SHAKE256, which is not supported yet")
    raise SignerError(f"a {type(key).__name__} cannot sign (key agreement keys only decrypt)")


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
    raise SignerError(f"a {type(key).__name__} cannot sign")


def _check_signer(cert: x509.Certificate) -> None:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (ku.digital_signature or ku.content_commitment):
        raise SignerError("the signer certificate's key usage allows neither digitalSignature nor nonRepudiation")


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
) -> bytes:
    """Sign content and return a DER ContentInfo(SignedData). Low level: prefer ``mailseal.sign``."""
    if digest not in SIGNING_DIGESTS:
        raise UsageError(f"digest {digest!r} is not offered for signing; choose one of {', '.join(SIGNING_DIGESTS)}")
    _check_signer(identity.certificate)
    digest, sig_alg = _signature_algorithm(identity, digest, pss)
    body = bytes(content) if isinstance(content, bytes | bytearray | memoryview) else content.read()
    message_digest = digest_stream(digest, body)
    cert = to_asn1_cert(identity.certificate)
    when = signing_time or datetime.now(UTC)
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": when})]})
            if 1950 <= when.year < 2050
            else cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"generalized_time": when})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
            smime_capabilities(),
            signing_certificate_v2(cert),
        ]
    )
    # The signature covers the DER encoding of the attributes with a SET OF tag (RFC 5652 §5.4).
    to_be_signed = signed_attrs.dump()
    to_be_signed = b"\x31" + to_be_signed[1:]
    signature = _raw_sign(identity, to_be_signed, digest, pss)
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": cert.issuer,
                        "serial_number": cert.serial_number,
                    }
                }
            ),
            "digest_algorithm": {"algorithm": digest},
            "signed_attrs": signed_attrs,
            "signature_algorithm": sig_alg,
            "signature": signature,
        }
    )
    certificates = []
    if include_certs:
        certificates.append(cert)
        if include_chain:
            certificates.extend(to_asn1_cert(c) for c in identity.chain)
        certificates.extend(to_asn1_cert(c) for c in extra_certs)
    encap: dict[str, object] = {"content_type": "data"}
    if not detached:
        encap["content"] = body
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": digest}],
            "encap_content_info": encap,
            "certificates": certificates or None,
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


__all__ = ["digest_stream", "sign_data", "signing_certificate_v2", "smime_capabilities", "to_asn1_cert"]

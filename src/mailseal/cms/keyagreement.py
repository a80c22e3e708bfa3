"""Key agreement for CMS: ECDH (RFC 5753 §3.1 dhSinglePass-stdDH) and X25519/X448 (RFC 8418), X9.63 and HKDF."""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from ..errors import UnsupportedAlgorithmError
from .algorithms import KDF_HASH, WRAP_KEY_SIZE, hash_algorithm
from .asn1 import ECCCMSSharedInfo

AgreementPrivateKey = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey
AgreementPublicKey = ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey


def curve_name(key: AgreementPublicKey | AgreementPrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return key.curve.name
    if isinstance(key, x25519.X25519PublicKey | x25519.X25519PrivateKey):
        return "x25519"
    return "x448"


def ephemeral_for(public: AgreementPublicKey) -> AgreementPrivateKey:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(public.curve)
    if isinstance(public, x25519.X25519PublicKey):
        return x25519.X25519PrivateKey.generate()
    return x448.X448PrivateKey.generate()


def exchange(private: AgreementPrivateKey, public: Any) -> bytes:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != private.curve.name:
            raise ValueError("originator key is not on the recipient's curve")
        return private.exchange(ec.ECDH(), public)
    if isinstance(private, x25519.X25519PrivateKey):
        if not isinstance(public, x25519.X25519PublicKey):
            raise ValueError("originator key is not an X25519 key")
        return private.exchange(public)
    if not isinstance(public, x448.X448PublicKey):
        raise ValueError("originator key is not an X448 key")
    return private.exchange(public)


def originator_public_key(info: keys.PublicKeyInfo, like: AgreementPrivateKey) -> AgreementPublicKey:
    """Rebuild the originator's ephemeral key. RFC 5753 §3.1.1: EC parameters MAY be absent (the recipient's)."""
    algo = info["algorithm"]["algorithm"].native
    point = info["public_key"].native if algo != "ec" else bytes(info["public_key"])
    if algo == "ec":
        if not isinstance(like, ec.EllipticCurvePrivateKey):
            raise ValueError("EC originator key for a non-EC recipient key")
        raw = info["public_key"].contents[1:] if info["public_key"].contents[:1] == b"\x00" else point
        return ec.EllipticCurvePublicKey.from_encoded_point(like.curve, raw)
    if algo == "x25519":
        return x25519.X25519PublicKey.from_public_bytes(info["public_key"].contents[1:])
    if algo == "x448":
        return x448.X448PublicKey.from_public_bytes(info["public_key"].contents[1:])
    raise UnsupportedAlgorithmError(f"originator key type {algo} is not supported")


def public_key_info(key: AgreementPublicKey) -> keys.PublicKeyInfo:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return keys.PublicKeyInfo.load(der)


def derive_kek(shared: bytes, kdf: str, wrap: cms.KeyEncryptionAlgorithm, ukm: bytes | None) -> bytes:
    """Derive the key-encryption key from the shared secret and ECC-CMS-SharedInfo (RFC 5753 §7.2)."""
    if kdf not in KDF_HASH:
        raise UnsupportedAlgorithmError(f"key agreement algorithm {kdf} is not supported")
    wrap_name = wrap["algorithm"].native
    if wrap_name not in WRAP_KEY_SIZE:
        raise UnsupportedAlgorithmError(f"key wrap algorithm {wrap_name} is not supported")
    size = WRAP_KEY_SIZE[wrap_name]
    # The received AlgorithmIdentifier is used as it is, so its parameters (e.g. NULL) match the sender's bytes.
    shared_info: dict[str, Any] = {
        "key_info": wrap,
        "supp_pub_info": (size * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        shared_info["entity_u_info"] = ukm
    info = ECCCMSSharedInfo(shared_info).dump()
    kind, hash_name = KDF_HASH[kdf]
    h = hash_algorithm(hash_name)
    if kind == "x963":
        return X963KDF(algorithm=h, length=size, sharedinfo=info).derive(shared)
    # RFC 8418 §2.2 with HKDF: the ukm, when present, is the salt; ECC-CMS-SharedInfo is the info.
    return HKDF(algorithm=h, length=size, salt=ukm, info=info).derive(shared)


__all__ = [
    "AgreementPrivateKey",
    "AgreementPublicKey",
    "curve_name",
    "derive_kek",
    "ephemeral_for",
    "exchange",
    "originator_public_key",
    "public_key_info",
]

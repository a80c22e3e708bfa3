"""The internal CA's keys: generation, the signature digest, and the passphrase-sealed key file ``ca-key.json``.

The key file holds the private key as PKCS#8 DER sealed with AES-256-GCM under a scrypt key (RFC 7914) derived
from the passphrase, as a JSON document whose parameters are authenticated too; the key is never in clear on disk.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

from ..errors import ErrorCode, UsageError, WrongPasswordError
from .ca_files import CAError
from .sealing import seal, unseal

MLDSAKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
MLKEMKey = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey
CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | MLDSAKey
UserKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | MLDSAKey | MLKEMKey

#: ML-DSA (FIPS 204) keys sign; ML-KEM (FIPS 203) keys only decrypt (RFC 9881 §5, RFC 9935 §5).
ML_DSA_KEY_TYPES = ("ml-dsa-44", "ml-dsa-65", "ml-dsa-87")
ML_KEM_KEY_TYPES = ("ml-kem-768", "ml-kem-1024")
CA_KEY_TYPES = ("rsa3072", "rsa4096", "p256", "p384", "ed25519", *ML_DSA_KEY_TYPES)
USER_KEY_TYPES = ("rsa2048", "rsa3072", "p256", "p384", *ML_DSA_KEY_TYPES, *ML_KEM_KEY_TYPES)
_PQ_CLASSES: dict[str, type[MLDSAKey] | type[MLKEMKey]] = {
    "ml-dsa-44": mldsa.MLDSA44PrivateKey,
    "ml-dsa-65": mldsa.MLDSA65PrivateKey,
    "ml-dsa-87": mldsa.MLDSA87PrivateKey,
    "ml-kem-768": mlkem.MLKEM768PrivateKey,
    "ml-kem-1024": mlkem.MLKEM1024PrivateKey,
}

_KEY_FORMAT = "mailseal-ca-key/1"


def generate_key(key_type: str) -> CAKey | MLKEMKey:
    """A fresh key: rsa2048/3072/4096, p256, p384, ed25519, ml-dsa-44/65/87 or ml-kem-768/1024."""
    if key_type in _PQ_CLASSES:
        return _PQ_CLASSES[key_type].generate()
    if key_type in ("rsa2048", "rsa3072", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise UsageError(f"unknown key type {key_type!r}")


def signature_hash(key: CAKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The digest to sign with: SHA-384 for P-384 (RFC 5480 §4), none for Ed25519 (RFC 8410) and ML-DSA (RFC 9881
    §3, pure mode), else SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey | mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey
                  | mldsa.MLDSA87PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def encrypt_key(key: CAKey, passphrase: bytes) -> bytes:
    """The key as PKCS#8 DER sealed with AES-256-GCM under scrypt(passphrase) (RFC 7914), as a JSON document."""
    if not passphrase:
        raise UsageError("the CA passphrase must not be empty")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return seal(der, passphrase, _KEY_FORMAT, pretty=True)


def decrypt_key(data: bytes, passphrase: bytes) -> CAKey:
    """Open a key sealed by ``encrypt_key``; a wrong passphrase raises ``WrongPasswordError``."""
    try:
        der = unseal(data, passphrase, _KEY_FORMAT)
    except InvalidTag:
        raise WrongPasswordError("the CA passphrase is wrong") from None
    except ValueError as exc:
        raise CAError(f"the CA key file is damaged: {exc}", code=ErrorCode.MALFORMED_INPUT) from None
    key = serialization.load_der_private_key(der, None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                      | mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey):
        raise CAError(f"the CA key has an unsupported type {type(key).__name__}")
    return key


__all__ = [
    "CA_KEY_TYPES",
    "ML_DSA_KEY_TYPES",
    "ML_KEM_KEY_TYPES",
    "USER_KEY_TYPES",
    "CAKey",
    "MLDSAKey",
    "MLKEMKey",
    "UserKey",
    "decrypt_key",
    "encrypt_key",
    "generate_key",
    "signature_hash",
]

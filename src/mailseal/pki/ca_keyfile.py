"""The internal CA's keys: generation, the signature digest, and the passphrase-sealed key file ``ca-key.json``.

The key file holds the private key as PKCS#8 DER sealed with AES-256-GCM under a scrypt key (RFC 7914) derived
from the passphrase, as a JSON document whose parameters are authenticated too; the key is never in clear on disk.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import ErrorCode, UsageError, WrongPasswordError
from .ca_files import CAError
from .sealing import seal, unseal

CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
UserKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CA_KEY_TYPES = ("rsa3072", "rsa4096", "p256", "p384", "ed25519")
USER_KEY_TYPES = ("rsa2048", "rsa3072", "p256", "p384")

_KEY_FORMAT = "mailseal-ca-key/1"


def generate_key(key_type: str) -> CAKey:
    """A fresh key: rsa2048/3072/4096, p256, p384 or ed25519."""
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
    """The digest to sign with: SHA-384 for P-384 (RFC 5480 §4), none for Ed25519 (RFC 8410), else SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
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
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise CAError(f"the CA key has an unsupported type {type(key).__name__}")
    return key


__all__ = [
    "CA_KEY_TYPES",
    "USER_KEY_TYPES",
    "CAKey",
    "UserKey",
    "decrypt_key",
    "encrypt_key",
    "generate_key",
    "signature_hash",
]

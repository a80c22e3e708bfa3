"""The internal CA's keys: generation, the signature digest, and the passphrase-sealed key file ``ca-key.json``.

The key file holds the private key as PKCS#8 DER sealed with AES-256-GCM under a scrypt key (RFC 7914) derived
from the passphrase, as a JSON document whose parameters are authenticated too; the key is never in clear on disk.
"""

from __future__ import annotations

import base64
import json
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import ErrorCode, UsageError, WrongPasswordError
from .ca_files import CAError

CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
UserKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CA_KEY_TYPES = ("rsa3072", "rsa4096", "p256", "p384", "ed25519")
USER_KEY_TYPES = ("rsa2048", "rsa3072", "p256", "p384")

_KEY_FORMAT = "mailseal-ca-key/1"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1
_MAX_SCRYPT_N = 2**20


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


def _kdf(salt: bytes, n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p)


def encrypt_key(key: CAKey, passphrase: bytes) -> bytes:
    """The key as PKCS#8 DER sealed with AES-256-GCM under scrypt(passphrase) (RFC 7914), as a JSON document."""
    if not passphrase:
        raise UsageError("the CA passphrase must not be empty")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {"format": _KEY_FORMAT, "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P,
                                             "salt": base64.b64encode(salt).decode()},
              "cipher": {"name": "aes-256-gcm", "nonce": base64.b64encode(nonce).decode()}}
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    aead = AESGCM(_kdf(salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P).derive(passphrase))
    # The parameters are authenticated too, so a tampered header fails like a wrong passphrase.
    sealed = aead.encrypt(nonce, der, json.dumps(header, sort_keys=True).encode())
    return json.dumps({**header, "ciphertext": base64.b64encode(sealed).decode()}, indent=1).encode() + b"\n"


def decrypt_key(data: bytes, passphrase: bytes) -> CAKey:
    """Open a key sealed by ``encrypt_key``; a wrong passphrase raises ``WrongPasswordError``."""
    try:
        doc = json.loads(data)
        header = {k: doc[k] for k in ("format", "kdf", "cipher")}
        if header["format"] != _KEY_FORMAT or header["kdf"]["name"] != "scrypt":
            raise ValueError("unknown key format")
        n, r, p = int(header["kdf"]["n"]), int(header["kdf"]["r"]), int(header["kdf"]["p"])
        if not (2 <= n <= _MAX_SCRYPT_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("scrypt parameters out of range")
        salt = base64.b64decode(header["kdf"]["salt"])
        nonce = base64.b64decode(header["cipher"]["nonce"])
        sealed = base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CAError(f"the CA key file is damaged: {exc}", code=ErrorCode.MALFORMED_INPUT) from None
    aead = AESGCM(_kdf(salt, n, r, p).derive(passphrase))
    try:
        der = aead.decrypt(nonce, sealed, json.dumps(header, sort_keys=True).encode())
    except InvalidTag:
        raise WrongPasswordError("the CA passphrase is wrong") from None
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

"""Content encryption: AES-GCM (RFC 5084), ChaCha20-Poly1305 (RFC 8103) and AES-CBC (RFC 3565)."""

from __future__ import annotations

import os

from asn1crypto import algos
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..errors import DecryptionError, UnsupportedAlgorithmError
from .algorithms import CIPHER_BY_OID, LEGACY_DECRYPT, ContentCipher
from .asn1 import GCMParameters

TAG_LENGTH = 16


def encrypt_content(
    cipher: ContentCipher, key: bytes, plaintext: bytes, aad: bytes | None = None
) -> tuple[algos.EncryptionAlgorithm, bytes, bytes | None]:
    """Encrypt and return (algorithm identifier, ciphertext, tag or None)."""
    if cipher.oid_name.endswith("_gcm"):
        nonce = os.urandom(12)  # RFC 5084 §3.2: a 12-octet nonce is RECOMMENDED.
        out = AESGCM(key).encrypt(nonce, plaintext, aad)
        params = GCMParameters({"aes_nonce": nonce, "aes_icvlen": TAG_LENGTH})
        alg = algos.EncryptionAlgorithm({"algorithm": cipher.oid_name, "parameters": params})
        return alg, out[:-TAG_LENGTH], out[-TAG_LENGTH:]
    if cipher.oid_name == "chacha20_poly1305":
        nonce = os.urandom(12)
        out = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
        alg = algos.EncryptionAlgorithm({"algorithm": cipher.oid_name, "parameters": nonce})
        return alg, out[:-TAG_LENGTH], out[-TAG_LENGTH:]
    iv = os.urandom(16)
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    alg = algos.EncryptionAlgorithm({"algorithm": cipher.oid_name, "parameters": iv})
    return alg, enc.update(padded) + enc.finalize(), None


def content_key_size(alg: algos.EncryptionAlgorithm) -> int:
    name = alg["algorithm"].native
    if name in CIPHER_BY_OID:
        return CIPHER_BY_OID[name].key_size
    if name in LEGACY_DECRYPT:
        return LEGACY_DECRYPT[name]
    if name in ("aes192_gcm",):
        return 24
    raise UnsupportedAlgorithmError(f"content encryption algorithm {name} is not supported")


def is_aead(alg: algos.EncryptionAlgorithm) -> bool:
    name = alg["algorithm"].native
    return bool(name.endswith("_gcm") or name == "chacha20_poly1305")


def decrypt_content(
    alg: algos.EncryptionAlgorithm, key: bytes, ciphertext: bytes, tag: bytes | None, aad: bytes | None = None
) -> bytes:
    """Decrypt; every failure is the same DecryptionError (no padding or tag oracle)."""
    name = alg["algorithm"].native
    if len(key) != content_key_size(alg):
        raise DecryptionError()
    try:
        if name.endswith("_gcm"):
            params = alg["parameters"]
            if not isinstance(params, GCMParameters):
                params = GCMParameters.load(params.dump())
            nonce = params["aes_nonce"].native
            icv = int(params["aes_icvlen"].native)
            if tag is None or len(tag) != icv or icv < 12:
                raise DecryptionError()
            return AESGCM(key).decrypt(nonce, ciphertext + tag, aad)
        if name == "chacha20_poly1305":
            nonce = bytes(alg["parameters"].native)
            if tag is None or len(tag) != TAG_LENGTH or len(nonce) != 12:
                raise DecryptionError()
            return ChaCha20Poly1305(key).decrypt(nonce, ciphertext + tag, aad)
        iv = bytes(alg["parameters"].native)
        if name.startswith("aes"):
            block: BlockCipherAlgorithm = algorithms.AES(key)
            size = 128
        elif name == "tripledes_3key":
            from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

            block = TripleDES(key)
            size = 64
        else:
            raise UnsupportedAlgorithmError(f"content encryption algorithm {name} is not supported")
        dec = Cipher(block, modes.CBC(iv)).decryptor()
        padded = dec.update(ciphertext) + dec.finalize()
        unpadder = sym_padding.PKCS7(size).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except (DecryptionError, UnsupportedAlgorithmError):
        raise
    except Exception:
        raise DecryptionError() from None


__all__ = ["content_key_size", "decrypt_content", "encrypt_content", "is_aead"]

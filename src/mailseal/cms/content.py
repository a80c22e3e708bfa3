"""Content encryption: AES-GCM (RFC 5084), ChaCha20-Poly1305 (RFC 8103) and AES-CBC (RFC 3565)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from asn1crypto import algos
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import DecryptionError, LimitExceededError, UnsupportedAlgorithmError
from . import asn1 as _asn1  # noqa: F401  (registers the GCM and ChaCha20 parameter types with asn1crypto)
from . import der
from .algorithms import CIPHER_BY_OID, LEGACY_DECRYPT, ContentCipher

TAG_LENGTH = 16

MAX_ONE_SHOT = 256 << 20  # ChaCha20-Poly1305 has no streaming interface in pyca: it is encrypted whole


class ContentEncryptor:
    """Streaming content encryption; ``algorithm`` is the DER AlgorithmIdentifier to put in the message."""

    def __init__(self, cipher: ContentCipher, key: bytes, random: Callable[[int], bytes] = os.urandom) -> None:
        from . import der

        self.cipher = cipher
        self._key = key
        self._buffer: list[bytes] = []
        self._size = 0
        self._enc: Any = None
        name = cipher.oid_name
        if name.endswith("_gcm"):
            nonce = random(12)  # RFC 5084 §3.2: a 12-octet nonce is RECOMMENDED.
            self._enc = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
            params = der.seq(der.octet_string(nonce), der.integer(TAG_LENGTH))
        elif name == "chacha20_poly1305":
            self._nonce = random(12)
            params = der.octet_string(self._nonce)
        else:
            iv = random(16)
            self._enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            self._padder = sym_padding.PKCS7(128).padder()
            params = der.octet_string(iv)
        self.algorithm = der.seq(der.oid(cipher.oid), params)

    def update(self, data: bytes) -> bytes:
        name = self.cipher.oid_name
        if name == "chacha20_poly1305":
            self._size += len(data)
            if self._size > MAX_ONE_SHOT:
                raise LimitExceededError("ChaCha20-Poly1305 content is limited to 256 MiB; use AES-GCM for more")
            self._buffer.append(data)
            return b""
        if name.endswith("_gcm"):
            return bytes(self._enc.update(data))
        return bytes(self._enc.update(self._padder.update(data)))

    def finalize(self) -> tuple[bytes, bytes | None]:
        """The last ciphertext bytes and the tag (None for CBC)."""
        name = self.cipher.oid_name
        if name == "chacha20_poly1305":
            out = ChaCha20Poly1305(self._key).encrypt(self._nonce, b"".join(self._buffer), None)
            self._buffer.clear()
            return out[:-TAG_LENGTH], out[-TAG_LENGTH:]
        if name.endswith("_gcm"):
            last = self._enc.finalize()
            return last, bytes(self._enc.tag)
        return self._enc.update(self._padder.finalize()) + self._enc.finalize(), None


class ContentDecryptor:
    """Streaming content decryption. Plaintext from ``update`` must be held back by the caller until
    ``finalize`` succeeds: only then is the tag (or the CBC padding) known to be right."""

    def __init__(self, alg: algos.EncryptionAlgorithm, key: bytes, legacy: frozenset[str] = frozenset()) -> None:
        """``legacy``: the legacy ciphers accepted by explicit choice (``"rc2"``; 3DES is always decrypted and
        reported weak)."""
        name = algorithm_name(alg)
        if name == "rc2":
            _check_rc2(alg, legacy)
        self._name = name
        self._buffer: list[bytes] = []
        self._size = 0
        self._enc: Any = None
        self._unpadder: Any = None
        self._key = key
        if len(key) != content_key_size(alg):
            raise DecryptionError()
        try:
            if name.endswith("_gcm"):
                nonce, self.tag_length = _gcm_parameters(alg)
                if not 12 <= self.tag_length <= 16:
                    raise DecryptionError()
                self._enc = Cipher(
                    algorithms.AES(key), modes.GCM(nonce, min_tag_length=self.tag_length)
                ).decryptor()
            elif name == "chacha20_poly1305":
                self._nonce = bytes(alg["parameters"].native)
                self.tag_length = TAG_LENGTH
                if len(self._nonce) != 12:
                    raise DecryptionError()
            else:
                # RC2's parameters are a SEQUENCE (version, iv), the others' the IV itself (RFC 3370 §5).
                iv = alg.encryption_iv if name == "rc2" else bytes(alg["parameters"].native)
                if name.startswith("aes"):
                    block: BlockCipherAlgorithm = algorithms.AES(key)
                    size = 128
                elif name == "tripledes_3key":
                    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

                    block = TripleDES(key)
                    size = 64
                elif name == "rc2":
                    from cryptography.hazmat.decrepit.ciphers.algorithms import RC2

                    block = RC2(key)
                    size = 64
                else:
                    raise UnsupportedAlgorithmError(f"content encryption algorithm {name} is not supported")
                self._enc = Cipher(block, modes.CBC(iv)).decryptor()
                self._unpadder = sym_padding.PKCS7(size).unpadder()
                self.tag_length = 0
        except (DecryptionError, UnsupportedAlgorithmError):
            raise
        except Exception:
            raise DecryptionError() from None

    @staticmethod
    def check_legacy(alg: algos.EncryptionAlgorithm, legacy: frozenset[str]) -> None:
        """Raise UnsupportedAlgorithmError when ``alg`` is a legacy cipher not accepted by ``legacy``."""
        if algorithm_name(alg) == "rc2":
            _check_rc2(alg, legacy)

    def authenticate(self, aad: bytes) -> None:
        if self._name.endswith("_gcm"):
            self._enc.authenticate_additional_data(aad)
        else:
            self._aad = aad

    def update(self, data: bytes) -> bytes:
        if self._name == "chacha20_poly1305":
            self._size += len(data)
            if self._size > MAX_ONE_SHOT:
                raise LimitExceededError("ChaCha20-Poly1305 content is limited to 256 MiB")
            self._buffer.append(data)
            return b""
        if self._unpadder is not None:
            return bytes(self._unpadder.update(self._enc.update(data)))
        return bytes(self._enc.update(data))

    def finalize(self, tag: bytes | None) -> bytes:
        """Check the tag or padding; every failure is the same DecryptionError."""
        try:
            if self._name == "chacha20_poly1305":
                if tag is None or len(tag) != TAG_LENGTH:
                    raise DecryptionError()
                data = b"".join(self._buffer)
                self._buffer.clear()
                return ChaCha20Poly1305(self._key).decrypt(self._nonce, data + tag, getattr(self, "_aad", None))
            if self._name.endswith("_gcm"):
                if tag is None or len(tag) != self.tag_length:
                    raise DecryptionError()
                return bytes(self._enc.finalize_with_tag(tag))
            return bytes(self._unpadder.update(self._enc.finalize()) + self._unpadder.finalize())
        except DecryptionError:
            raise
        except Exception:
            raise DecryptionError() from None


@lru_cache(maxsize=64)
def _name_of_oid(oid_tlv: bytes) -> str:
    return str(algos.EncryptionAlgorithmId.load(oid_tlv).native)


def algorithm_name(alg: algos.EncryptionAlgorithm) -> str:
    """The algorithm's name from its OID's bytes (cached): a full asn1crypto parse costs more than a small
    message's AES. Anything unusual goes through asn1crypto, which says what is wrong."""
    name = _name_from_der(alg.dump())
    return name if name is not None else str(alg["algorithm"].native)


@lru_cache(maxsize=16)  # keyed by the whole identifier: one message asks several times about the same one
def _name_from_der(tlv: bytes) -> str | None:
    try:
        oid = der.children(tlv)[0]
    except Exception:
        return None
    return _name_of_oid(oid) if oid[:1] == b"\x06" else None


def _gcm_parameters(alg: algos.EncryptionAlgorithm) -> tuple[bytes, int]:
    """RFC 5084 GCMParameters: the nonce and the tag length (DEFAULT 12), read from the DER."""
    fields = der.children(der.children(alg.dump())[1])
    if not 1 <= len(fields) <= 2 or fields[0][:1] != b"\x04" or (len(fields) == 2 and fields[1][:1] != b"\x02"):
        raise DecryptionError()
    icv = der.content_of(fields[1]) if len(fields) == 2 else b"\x0c"
    if not 1 <= len(icv) <= 2:
        raise DecryptionError()
    return der.content_of(fields[0]), int.from_bytes(icv, "big")


def _check_rc2(alg: algos.EncryptionAlgorithm, legacy: frozenset[str]) -> None:
    """RC2 only by explicit choice, and only with the 128-bit effective key pyca implements. Decided on the
    algorithm identifier alone, before any key is used: the same answer for every key, so no oracle."""
    if "rc2" not in legacy:
        raise UnsupportedAlgorithmError("the message is encrypted with RC2, which is refused (RFC 8551 §2.7: "
                                        "historic); --allow-legacy rc2 decrypts it for archives")
    try:
        bits = alg.key_length * 8
    except (ValueError, KeyError, TypeError):
        raise UnsupportedAlgorithmError("the RC2 parameters cannot be read") from None
    if bits != 128:
        raise UnsupportedAlgorithmError(f"RC2 with a {bits}-bit effective key is not supported (128 bits only)")


def content_key_size(alg: algos.EncryptionAlgorithm) -> int:
    name = algorithm_name(alg)
    if name in CIPHER_BY_OID:
        return CIPHER_BY_OID[name].key_size
    if name in LEGACY_DECRYPT:
        return LEGACY_DECRYPT[name]
    if name == "rc2":
        return 16  # only the 128-bit effective key is decrypted (_check_rc2)
    if name in ("aes192_gcm",):
        return 24
    raise UnsupportedAlgorithmError(f"content encryption algorithm {name} is not supported")


def is_aead(alg: algos.EncryptionAlgorithm) -> bool:
    name = algorithm_name(alg)
    return bool(name.endswith("_gcm") or name == "chacha20_poly1305")



__all__ = ["ContentDecryptor", "ContentEncryptor", "algorithm_name", "content_key_size", "is_aead"]

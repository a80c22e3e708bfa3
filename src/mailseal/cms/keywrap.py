"""Key unwrap for key agreement: AES key wrap (RFC 3394) and, to read old mail, Triple-DES key wrap (RFC 3217)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

# RFC 3217 §3.2: the fixed IV of the outer CBC pass.
_TRIPLEDES_WRAP_IV = bytes.fromhex("4adda22c79e82105")


def _tdes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    dec = Cipher(TripleDES(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def tripledes_key_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3217 §3.2: decrypt-only support for id-alg-CMS3DESwrap (OpenSSL 1.1.1 wrote it for ECDH + 3DES)."""
    if len(wrapped) % 8 or len(wrapped) < 24:
        raise InvalidUnwrap("wrapped key length is not valid for Triple-DES key wrap")
    temp3 = _tdes_cbc_decrypt(kek, _TRIPLEDES_WRAP_IV, wrapped)
    temp2 = temp3[::-1]
    iv, temp1 = temp2[:8], temp2[8:]
    wkcks = _tdes_cbc_decrypt(kek, iv, temp1)
    cek, icv = wkcks[:-8], wkcks[-8:]
    if not hmac.compare_digest(hashlib.sha1(cek).digest()[:8], icv):
        raise InvalidUnwrap("Triple-DES key wrap checksum mismatch")
    return cek


def key_unwrap(wrap_name: str, kek: bytes, wrapped: bytes) -> bytes:
    if wrap_name == "tripledes_wrap":
        return tripledes_key_unwrap(kek, wrapped)
    return aes_key_unwrap(kek, wrapped)


__all__ = ["key_unwrap", "tripledes_key_unwrap"]

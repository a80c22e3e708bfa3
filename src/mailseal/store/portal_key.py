"""The portal key (docs/portal.md): the key-encryption key ``portal.key`` in the home that wraps each portal
message's own AES-256-GCM key (RFC 3394 key wrap), and the sealing of messages, replies and outbox mail with it.

Made at first use (32 random bytes, hex, mode 0600) like the console's ``console.key``; every node of a cluster
needs the same file. The key is never logged: errors name the file, never its content.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ..config import data_dir, secret_key_file
from ..errors import DecryptionError

KEY_FILE = "portal.key"
KEY_BYTES = 32
#: AES-GCM's 96-bit nonce (NIST SP 800-38D §8.2): a fresh random key per sealed item, so a random nonce is safe.
NONCE_BYTES = 12


def key_path(path: Path | None = None) -> Path:
    """``path`` when given (``[portal] key_file``), else ``portal.key`` in the home."""
    return path if path is not None else data_dir() / KEY_FILE


def portal_key(path: Path | None = None, *, create: bool = True) -> bytes:
    """The portal key from ``path`` (default ``portal.key`` in the home), created (mode 0600) when missing and
    ``create``; a file that does not hold 64 hex digits is a ``ConfigurationError``."""
    if path is None and create:
        data_dir(create=True)
    return secret_key_file(key_path(path), "portal key", size=KEY_BYTES, create=create)


@dataclass(frozen=True)
class Sealed:
    """One sealed item: its own AES-256 key wrapped by the portal key, the GCM nonce and the ciphertext (with tag)."""

    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def seal(kek: bytes, plaintext: bytes, context: bytes) -> Sealed:
    """``plaintext`` under a fresh AES-256-GCM key; ``context`` (which row it belongs to) is the associated data,
    so a sealed blob moved to another row does not open."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return Sealed(aes_key_wrap(kek, key), nonce, AESGCM(key).encrypt(nonce, plaintext, context))


def unseal(kek: bytes, sealed: Sealed, context: bytes) -> bytes:
    """The plaintext of ``sealed``; any failure (another portal key, a changed blob or context) is one opaque
    ``DecryptionError``."""
    try:
        key = aes_key_unwrap(kek, sealed.wrapped_key)
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, context)
    except (InvalidUnwrap, InvalidTag, ValueError):
        raise DecryptionError("a portal item could not be opened with this portal key") from None


def derived_key(kek: bytes, purpose: str) -> bytes:
    """A key for ``purpose`` (e.g. ``passcode``) derived from the portal key (HMAC-SHA256, domain-separated), so
    the portal key itself only ever wraps keys."""
    return hmac.new(kek, b"mailseal portal " + purpose.encode(), hashlib.sha256).digest()


__all__ = ["KEY_BYTES", "KEY_FILE", "NONCE_BYTES", "Sealed", "derived_key", "key_path", "portal_key", "seal",
           "unseal"]

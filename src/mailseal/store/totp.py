"""The TOTP second factor (RFC 6238) shared by console accounts and portal accounts: the secret sealed at rest with
AES-256-GCM under a key of the caller's (bound to the account by the associated data, so a sealed secret moved to
another account does not open), and the check of a code that never accepts the same 30-second step twice
(RFC 6238 §5.2)."""

from __future__ import annotations

import secrets
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
STEP_SECONDS = 30


def new_secret() -> str:
    """A new random TOTP secret (base32, 160 bits)."""
    import pyotp

    return pyotp.random_base32()


def seal_secret(key: bytes, label: str, secret: str) -> bytes:
    """``secret`` sealed under ``key`` for the account ``label`` (nonce + ciphertext with tag)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), b"mailseal totp " + label.encode())


def open_secret(key: bytes, label: str, sealed: bytes) -> str | None:
    """The secret sealed by ``seal_secret`` for ``label``; None when it does not open (another key, another
    account, a changed blob)."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                   b"mailseal totp " + label.encode()).decode()
    except (InvalidTag, ValueError):
        return None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code ``code`` is (this step or one either side, for clock drift), else None. The
    caller refuses a step at or before the last one it accepted (a code works once)."""
    import pyotp

    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // STEP_SECONDS
    return next((s for s in (step, step - 1, step + 1)
                 if secrets.compare_digest(totp.at(s * STEP_SECONDS), code)), None)


def provisioning_uri(secret: str, name: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    import pyotp

    return str(pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer))


__all__ = ["NONCE_BYTES", "STEP_SECONDS", "matching_step", "new_secret", "open_secret", "provisioning_uri",
           "seal_secret"]

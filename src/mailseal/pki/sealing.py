"""Secrets sealed under a passphrase: AES-256-GCM with a key from scrypt (RFC 7914), as a small JSON document.

The document names its format, the scrypt parameters and salt, and the nonce; all of these are authenticated
with the ciphertext, so a changed header fails like a wrong passphrase. Used for the internal CA's key file and
for the secrets a backup carries; each caller names its own format and turns the two failures (a damaged
document, a wrong passphrase) into its own error.
"""

from __future__ import annotations

import base64
import json
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

#: scrypt cost: N=2^17, r=8, p=1 (128 MiB, OWASP's minimum for password storage).
DEFAULT_SCRYPT = {"n": 2**17, "r": 8, "p": 1}
#: The most a document may ask for when it is opened (a forged header must not make us allocate gigabytes).
MAX_SCRYPT_N = 2**20


def _key(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> AESGCM:
    return AESGCM(Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase))


def seal(data: bytes, passphrase: bytes, fmt: str, *, scrypt: dict[str, int] | None = None,
         pretty: bool = False) -> bytes:
    """``data`` sealed under ``passphrase`` as a JSON document of format ``fmt`` (indented, with a final line end,
    when ``pretty``: a file someone may look at)."""
    params = scrypt or DEFAULT_SCRYPT
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {"format": fmt, "kdf": {"name": "scrypt", "n": params["n"], "r": params["r"], "p": params["p"],
                                     "salt": base64.b64encode(salt).decode()},
              "cipher": {"name": "aes-256-gcm", "nonce": base64.b64encode(nonce).decode()}}
    aead = _key(passphrase, salt, params["n"], params["r"], params["p"])
    sealed = aead.encrypt(nonce, data, json.dumps(header, sort_keys=True).encode())
    document = {**header, "ciphertext": base64.b64encode(sealed).decode()}
    return json.dumps(document, indent=1).encode() + b"\n" if pretty else json.dumps(document).encode()


def unseal(blob: bytes, passphrase: bytes, fmt: str) -> bytes:
    """The data of a document ``seal`` made with format ``fmt``.

    Raises ValueError when the document is damaged or of another format, and cryptography's ``InvalidTag`` when
    the passphrase is wrong or the document was changed."""
    try:
        doc = json.loads(blob)
        header = {k: doc[k] for k in ("format", "kdf", "cipher")}
        if header["format"] != fmt or header["kdf"]["name"] != "scrypt":
            raise ValueError(f"not a {fmt} document")
        n, r, p = int(header["kdf"]["n"]), int(header["kdf"]["r"]), int(header["kdf"]["p"])
        if not (2 <= n <= MAX_SCRYPT_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("scrypt parameters out of range")
        salt = base64.b64decode(header["kdf"]["salt"])
        nonce = base64.b64decode(header["cipher"]["nonce"])
        sealed = base64.b64decode(doc["ciphertext"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or malformed field {exc}") from None
    return _key(passphrase, salt, n, r, p).decrypt(nonce, sealed, json.dumps(header, sort_keys=True).encode())


__all__ = ["DEFAULT_SCRYPT", "MAX_SCRYPT_N", "seal", "unseal"]

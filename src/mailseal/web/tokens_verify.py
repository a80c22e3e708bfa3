"""Download links of the verify page: self-contained tokens that carry a certificate or a signature, sealed with
an HMAC of the console key.

Verification keeps nothing: the message is read, verified and forgotten. The result page's links to the signer
certificates and to the .p7s therefore carry the bytes themselves (deflated, base64url) with an expiry time and an
HMAC-SHA256 over both, under a key derived from ``console.key`` (which every node of a cluster shares already, for
the TOTP secrets). Any node serves any link, nothing is stored, and the console serves only bytes it extracted
from a message it verified itself: a crafted link cannot make it hand out content of someone else's choosing.
What the links carry is public (certificates, a detached signature), never message content.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import zlib
from datetime import datetime, timedelta
from typing import Literal

from ..errors import UsageError
from .context import Console
from .settings import console_key

Kind = Literal["cert", "p7s"]
KINDS: dict[bytes, Kind] = {b"c": "cert", b"s": "p7s"}
#: How long a result page's links work.
LIFETIME = timedelta(hours=1)
#: The largest thing a link carries: a URL stays well under the 16 KiB request line uvicorn (h11) accepts.
MAX_CARRIED = 8 * 1024
VERSION = "v1"
_LABEL = b"mailseal console: verify page downloads"


def download_key(app: Console) -> bytes:
    """The links' key: derived from the console key (domain-separated: the console key itself seals TOTP secrets)."""
    cached = getattr(app, "_verify_download_key", None)
    if isinstance(cached, bytes):
        return cached
    key = hmac.new(console_key(app.settings), _LABEL, hashlib.sha256).digest()
    object.__setattr__(app, "_verify_download_key", key)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, VERSION.encode() + b"." + body, hashlib.sha256).digest()


def seal(key: bytes, kind: Kind, data: bytes, now: datetime) -> str | None:
    """A token for ``data`` valid until ``now + LIFETIME``; None when ``data`` is too large to carry."""
    if len(data) > MAX_CARRIED:
        return None
    tag = next(k for k, v in KINDS.items() if v == kind)
    expires = int((now + LIFETIME).timestamp())
    body = zlib.compress(tag + struct.pack(">Q", expires) + data, 9)
    return f"{VERSION}.{_b64(body)}.{_b64(_mac(key, body))}"


def unseal(key: bytes, token: str, now: datetime) -> tuple[Kind, bytes]:
    """What a token carries; ``UsageError`` when it was not made by this console or has expired."""
    invalid = UsageError("this download link is not valid: verify the message again for fresh links")
    version, _, rest = token.partition(".")
    encoded, _, mac = rest.partition(".")
    try:
        body, given = _unb64(encoded), _unb64(mac)
    except ValueError:
        raise invalid from None
    if version != VERSION or not hmac.compare_digest(given, _mac(key, body)):
        raise invalid
    # Only bytes this console sealed get here, so the inflated size is bounded by what seal() accepted.
    inflated = zlib.decompressobj().decompress(body, MAX_CARRIED + 9)
    kind, (expires,), data = KINDS.get(inflated[:1]), struct.unpack(">Q", inflated[1:9]), inflated[9:]
    if kind is None:
        raise invalid
    if now.timestamp() > expires:
        raise UsageError("this download link has expired: verify the message again for fresh links")
    return kind, data


__all__ = ["LIFETIME", "MAX_CARRIED", "Kind", "download_key", "seal", "unseal"]

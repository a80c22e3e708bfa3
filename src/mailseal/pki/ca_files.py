"""Where the internal CA lives: its directory, the files in it, its settings (``ca.json``) and its error.

The CA lives in one directory (``ca`` in the data directory by default): ``ca.pem`` (certificate), ``ca-key.json``
(the sealed private key, ``mailseal.pki.ca_keyfile``), ``ca.json`` (settings), ``ca.db`` (the register,
``mailseal.pki.ca_register``) and ``crl.der`` (the last CRL signed). Every file is mode 0600 and the directory 0700.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import data_dir
from ..errors import ErrorCode, MailsealError, UsageError

KEY_FILE = "ca-key.json"
CERT_FILE = "ca.pem"
CONFIG_FILE = "ca.json"
DB_FILE = "ca.db"
CRL_FILE = "crl.der"


class CAError(MailsealError):
    """The internal CA is missing or was asked for something it refuses (a damaged CA: ``malformed-input``)."""

    code = ErrorCode.USAGE


def default_directory() -> Path:
    """Where the CA lives: ``ca`` in the data directory (``mailseal.config.data_dir``)."""
    return data_dir() / "ca"


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (mode 0600 from creation, then an atomic rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def check_url(url: str | None, what: str) -> None:
    """Refuse a CRL or OCSP URL that is not http:// or https://."""
    if url is not None and not url.startswith(("http://", "https://")):
        raise UsageError(f"the {what} URL must be http:// or https:// (RFC 5280 §4.2.1.13, RFC 6960 §3.1)")


@dataclass(frozen=True)
class CAConfig:
    """Settings fixed at ``ca init``, kept in ``ca.json``."""

    name: str
    crl_url: str | None = None
    ocsp_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "crl_url": self.crl_url, "ocsp_url": self.ocsp_url}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> CAConfig:
        """Read ``ca.json``; raises ValueError, KeyError or TypeError when it is damaged."""
        raw = json.loads(data)
        return cls(str(raw["name"]), raw.get("crl_url"), raw.get("ocsp_url"))


__all__ = [
    "CERT_FILE",
    "CONFIG_FILE",
    "CRL_FILE",
    "DB_FILE",
    "KEY_FILE",
    "CAConfig",
    "CAError",
    "check_url",
    "default_directory",
    "write_private",
]

"""The backup archive format: a gzip tar whose first member is a JSON manifest naming every member with its SHA-256.

Secrets (the store and CA passphrases) travel only sealed: to a passphrase (scrypt, RFC 7914, then AES-256-GCM) in
``secrets.enc``, and/or to an administrator's certificate as CMS AuthEnvelopedData (RFC 5083, AES-256-GCM; RFC 8551
§2.7.1.2) in ``secrets.p7m``. The sealed payload also carries the SHA-256 of every other member, so an archive whose
secrets open cannot have had a member *and* the manifest changed together.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa

from ..cms.identity import Identity
from ..errors import ErrorCode, MailsealError, UsageError, WrongPasswordError
from ..pki.sealing import seal, unseal

FORMAT = "mailseal-backup/1"
SECRETS_FORMAT = "mailseal-backup-secrets/1"
MANIFEST = "manifest.json"
SECRETS_SEALED_TO_PASSPHRASE = "secrets.enc"
SECRETS_SEALED_TO_CERTIFICATE = "secrets.p7m"
#: A backup passphrase protects the store passphrase itself: shorter ones are refused.
MIN_PASSPHRASE = 12
#: The manifest is small; anything larger is not one of ours.
MAX_MANIFEST = 1 << 20

_KEY_FORMAT = "mailseal-backup-seal/1"
# scrypt N=2^17, r=8, p=1 (RFC 7914; OWASP's minimum for passwords), as the key store and the CA key use.


class ArchiveError(MailsealError):
    """A backup archive that is damaged, tampered with, or not a mailseal backup."""

    code = ErrorCode.ARCHIVE_INVALID


@dataclass(frozen=True)
class SecretItem:
    """One secret to back up: its name in the archive (``store-passphrase``), where it came from, its bytes."""

    name: str
    origin: str
    data: bytes


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def safe_member_name(name: str) -> bool:
    """A member name restore may write: relative, forward slashes, no ``..``, no empty or hidden parts."""
    parts = name.split("/")
    return (bool(name) and not name.startswith("/") and "\\" not in name and "\0" not in name
            and all(p and p not in (".", "..") and not p.startswith(".") for p in parts))


# -- sealing to a passphrase ------------------------------------------------------------------------------------


def seal_to_passphrase(data: bytes, passphrase: bytes, scrypt: dict[str, int] | None = None) -> bytes:
    """``data`` sealed with AES-256-GCM under scrypt(passphrase), as a JSON document (pki/sealing.py)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the backup passphrase must be at least {MIN_PASSPHRASE} characters: it protects the "
                         "store passphrase")
    return seal(data, passphrase, _KEY_FORMAT, scrypt=scrypt)


def open_with_passphrase(blob: bytes, passphrase: bytes) -> bytes:
    """Open ``seal_to_passphrase``'s document; a wrong passphrase raises ``WrongPasswordError``."""
    try:
        return unseal(blob, passphrase, _KEY_FORMAT)
    except InvalidTag:
        raise WrongPasswordError("the backup passphrase is wrong (or the sealed secrets were changed)") from None
    except ValueError as exc:
        raise ArchiveError(f"the archive's sealed secrets are damaged: {exc}") from None


# -- sealing to a certificate (CMS) -----------------------------------------------------------------------------


def seal_to_certificate(data: bytes, certificate: x509.Certificate) -> bytes:
    """``data`` as CMS AuthEnvelopedData (AES-256-GCM) for ``certificate``; RSA keys get RSAES-OAEP (RFC 8017)."""
    from ..cms.enveloping import envelope_data

    oaep = isinstance(certificate.public_key(), rsa.RSAPublicKey)
    return envelope_data(data, [certificate], key_transport="oaep" if oaep else "pkcs1v15")


def open_with_identity(blob: bytes, identity: Identity) -> bytes:
    """Open ``seal_to_certificate``'s CMS with the administrator's key (``DecryptionError`` when it is not theirs)."""
    from ..cms.decryption import decrypt_data

    return decrypt_data(blob, identity.private_key, identity.certificate).content


# -- the sealed payload ----------------------------------------------------------------------------------------


def secrets_payload(items: tuple[SecretItem, ...], members: dict[str, str]) -> bytes:
    """The plaintext that is sealed: every secret, and the SHA-256 of every other member of the archive."""
    return json.dumps({
        "format": SECRETS_FORMAT,
        "members": members,
        "secrets": {i.name: {"origin": i.origin, "data": base64.b64encode(i.data).decode()} for i in items},
    }).encode()


def parse_secrets_payload(data: bytes) -> tuple[tuple[SecretItem, ...], dict[str, str]]:
    """(secrets, member digests) of an opened payload."""
    try:
        doc = json.loads(data)
        if doc.get("format") != SECRETS_FORMAT:
            raise ValueError("unknown format")
        items = tuple(SecretItem(str(name), str(v["origin"]), base64.b64decode(v["data"]))
                      for name, v in doc["secrets"].items())
        members = {str(k): str(v) for k, v in doc["members"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArchiveError(f"the archive's sealed secrets are not readable: {exc}") from None
    if not all(safe_member_name(i.name) and "/" not in i.name for i in items):
        raise ArchiveError("the archive's sealed secrets have an unsafe name")
    return items, members


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (0600 from creation), through a temporary name and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def parse_manifest(data: bytes) -> dict[str, Any]:
    """The manifest of an archive, checked for the fields restore relies on."""
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        members = manifest["members"]
        if not isinstance(members, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int)
                for v in members.values()):
            raise ValueError("the member list is malformed")
        if not isinstance(manifest.get("contents"), dict):
            raise ValueError("the contents are missing")
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"not a mailseal backup: {exc}") from None
    unsafe = [n for n in members if not safe_member_name(n) or n == MANIFEST]
    if unsafe:
        raise ArchiveError(f"the manifest names an unsafe member {unsafe[0]!r}")
    return manifest


__all__ = [
    "FORMAT",
    "MANIFEST",
    "MIN_PASSPHRASE",
    "SECRETS_SEALED_TO_CERTIFICATE",
    "SECRETS_SEALED_TO_PASSPHRASE",
    "ArchiveError",
    "SecretItem",
    "open_with_identity",
    "open_with_passphrase",
    "parse_manifest",
    "parse_secrets_payload",
    "safe_member_name",
    "seal_to_certificate",
    "seal_to_passphrase",
    "secrets_payload",
    "sha256_file",
    "write_private",
]

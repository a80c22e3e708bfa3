"""The PKCS#12 file (RFC 7292) the internal CA hands a subscriber: key, certificate and the CA certificate."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ..cms.identity import Password, password_bytes
from ..errors import UsageError
from .ca_keyfile import UserKey


def subscriber_pkcs12(friendly_name: str, key: UserKey, certificate: x509.Certificate, ca: x509.Certificate,
                      password: Password, *, legacy: bool = False) -> bytes:
    """Default: PBES2 AES-256-CBC, PBKDF2 and HMAC-SHA-256. ``legacy``: 3DES and SHA-1, the only kind gpgsm 2.2
    and older NSS import."""
    if not password:
        raise UsageError("the PKCS#12 file needs a password")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (builder.kdf_rounds(2048).key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                   .hmac_hash(hashes.SHA1()))
    else:
        builder = (builder.kdf_rounds(200_000).key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                   .hmac_hash(hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), key, certificate, [ca], builder.build(password_bytes(password) or b""),
    )


__all__ = ["subscriber_pkcs12"]

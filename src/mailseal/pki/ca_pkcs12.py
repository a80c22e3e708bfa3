"""The PKCS#12 file (RFC 7292) the internal CA hands a subscriber: key, certificate and the CA certificate.

pyca/cryptography (and OpenSSL 3.0) cannot put an ML-DSA or ML-KEM key into PKCS#12, so such a subscriber gets a
PEM file instead: the key as encrypted PKCS#8 (PBES2, AES-256-CBC; the RFC 9881/9935 seed form inside), then the
certificate and the CA certificate. ``Identity.load`` and every ``--key FILE`` option read it with the same password.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ..cms.identity import Password, password_bytes
from ..errors import UsageError
from .ca_keyfile import MLDSAKey, MLKEMKey, UserKey


def subscriber_pkcs12(friendly_name: str, key: UserKey, certificate: x509.Certificate, ca: x509.Certificate,
                      password: Password, *, legacy: bool = False) -> bytes:
    """Default: PBES2 AES-256-CBC, PBKDF2 and HMAC-SHA-256. ``legacy``: 3DES and SHA-1, the only kind gpgsm 2.2
    and older NSS import."""
    if not password:
        raise UsageError("the PKCS#12 file needs a password")
    if isinstance(key, MLDSAKey | MLKEMKey):
        pem = serialization.Encoding.PEM
        return (key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(password_bytes(password) or b""))
                + certificate.public_bytes(pem) + ca.public_bytes(pem))
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

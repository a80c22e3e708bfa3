"""Every OID <-> algorithm mapping mailseal uses, with the RFC that sets each default (RFC 8551 §2, RFC 5652)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from ..errors import UnsupportedAlgorithmError

# RFC 8551 §2.1: SHA-256 MUST be supported; SHA-512 SHOULD. SHA-1 and MD5 are only read (MD5 is refused).
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}
DEFAULT_DIGEST = "sha256"
SIGNING_DIGESTS = ("sha256", "sha384", "sha512")
WEAK_DIGESTS = frozenset({"sha1"})
# Content ciphers that still decrypt but are reported as weak (RFC 8551 §2.7: 3DES is historic).
WEAK_CIPHERS = frozenset({"tripledes_3key", "des", "rc2"})
REFUSED_DIGESTS = frozenset({"md2", "md4", "md5"})

# micalg parameter values of multipart/signed, RFC 8551 §3.5.3.2.
MICALG = {
    "sha1": "sha-1",
    "sha224": "sha-224",
    "sha256": "sha-256",
    "sha384": "sha-384",
    "sha512": "sha-512",
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """Return a pyca hash object for an asn1crypto digest name, refusing what RFC 8551 forbids."""
    if name in REFUSED_DIGESTS:
        raise UnsupportedAlgorithmError(f"digest algorithm {name.upper()} is refused as broken (RFC 8551 §2.1)")
    try:
        return DIGESTS[name]()
    except KeyError:
        raise UnsupportedAlgorithmError(f"digest algorithm {name!r} is not supported") from None


@dataclass(frozen=True)
class ContentCipher:
    """A content-encryption algorithm: its CLI name, asn1crypto OID name, key size and whether it is an AEAD."""

    name: str
    oid_name: str
    key_size: int
    aead: bool
    smime_type: str


CONTENT_CIPHERS: dict[str, ContentCipher] = {
    c.name: c
    for c in (
        # RFC 8551 §2.7: AES-128 GCM and AES-256 GCM MUST, ChaCha20-Poly1305 SHOULD+, AES-128 CBC SHOULD-.
        ContentCipher("aes256-gcm", "aes256_gcm", 32, True, "authEnveloped-data"),
        ContentCipher("aes128-gcm", "aes128_gcm", 16, True, "authEnveloped-data"),
        ContentCipher("chacha20-poly1305", "chacha20_poly1305", 32, True, "authEnveloped-data"),
        ContentCipher("aes256-cbc", "aes256_cbc", 32, False, "enveloped-data"),
        ContentCipher("aes128-cbc", "aes128_cbc", 16, False, "enveloped-data"),
    )
}
CIPHER_BY_OID = {c.oid_name: c for c in CONTENT_CIPHERS.values()}
# Ciphers that are decrypted for compatibility but never chosen for new messages.
LEGACY_DECRYPT = {"aes192_cbc": 24, "tripledes_3key": 24}
DEFAULT_CIPHER = "aes256-gcm"  # RFC 8551 §2.7.1.2: AES-256 GCM is the default for new messages.


def content_cipher(name: str) -> ContentCipher:
    try:
        return CONTENT_CIPHERS[name]
    except KeyError:
        known = ", ".join(CONTENT_CIPHERS)
        raise UnsupportedAlgorithmError(f"unknown cipher {name!r}; choose one of {known}") from None


# Key wrap for key agreement (RFC 5753 §7.1.3, RFC 8418 §2.2): match the content key's strength.
WRAP_FOR_KEY_SIZE = {16: "aes128_wrap", 24: "aes192_wrap", 32: "aes256_wrap"}
WRAP_KEY_SIZE = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32, "tripledes_wrap": 24}

# ECDH KDF per curve (RFC 5753 §8 and RFC 8418 §2.2 guidance: hash matches the curve's strength).
KDF_FOR_CURVE = {
    "secp256r1": "dh_single_pass_stddh_sha256kdf",
    "secp384r1": "dh_single_pass_stddh_sha384kdf",
    "secp521r1": "dh_single_pass_stddh_sha512kdf",
    "x25519": "dh_single_pass_stddh_sha256kdf",
    "x448": "dh_single_pass_stddh_sha512kdf",
}
KDF_HASH = {
    "dh_single_pass_stddh_sha1kdf": ("x963", "sha1"),
    "dh_single_pass_stddh_sha224kdf": ("x963", "sha224"),
    "dh_single_pass_stddh_sha256kdf": ("x963", "sha256"),
    "dh_single_pass_stddh_sha384kdf": ("x963", "sha384"),
    "dh_single_pass_stddh_sha512kdf": ("x963", "sha512"),
    "dh_single_pass_cofactordh_sha1kdf": ("x963", "sha1"),
    "dh_single_pass_cofactordh_sha224kdf": ("x963", "sha224"),
    "dh_single_pass_cofactordh_sha256kdf": ("x963", "sha256"),
    "dh_single_pass_cofactordh_sha384kdf": ("x963", "sha384"),
    "dh_single_pass_cofactordh_sha512kdf": ("x963", "sha512"),
    "dh_single_pass_stddh_hkdf_sha256": ("hkdf", "sha256"),
    "dh_single_pass_stddh_hkdf_sha384": ("hkdf", "sha384"),
    "dh_single_pass_stddh_hkdf_sha512": ("hkdf", "sha512"),
}

# Our SMIMECapabilities, strongest first (RFC 8551 §2.5.2): content ciphers, then key transport and signatures.
CAPABILITY_OIDS: tuple[str, ...] = (
    "2.16.840.1.101.3.4.1.46",  # aes256-GCM
    "2.16.840.1.101.3.4.1.6",  # aes128-GCM
    "1.2.840.113549.1.9.16.3.18",  # ChaCha20-Poly1305
    "2.16.840.1.101.3.4.1.42",  # aes256-CBC
    "2.16.840.1.101.3.4.1.2",  # aes128-CBC
    "1.2.840.113549.1.1.7",  # RSAES-OAEP
    "1.2.840.113549.1.1.1",  # rsaEncryption
    "1.2.840.113549.1.1.10",  # RSASSA-PSS
    "1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
    "1.3.101.112",  # Ed25519
)

__all__ = [
    "CAPABILITY_OIDS",
    "CIPHER_BY_OID",
    "CONTENT_CIPHERS",
    "DEFAULT_CIPHER",
    "DEFAULT_DIGEST",
    "KDF_FOR_CURVE",
    "KDF_HASH",
    "LEGACY_DECRYPT",
    "MICALG",
    "REFUSED_DIGESTS",
    "SIGNING_DIGESTS",
    "WEAK_CIPHERS",
    "WEAK_DIGESTS",
    "WRAP_FOR_KEY_SIZE",
    "WRAP_KEY_SIZE",
    "ContentCipher",
    "content_cipher",
    "hash_algorithm",
]

"""Every OID <-> algorithm mapping mailseal uses, with the RFC that sets each default (RFC 8551 §2, RFC 5652)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives import hashes

from ..errors import UnsupportedAlgorithmError
from .der import oid as _der_oid


class ContentKind(Enum):
    """The CMS content types mailseal reads and writes; each value is the type's OID, written only here.

    RFC 5652 §4 (Data), §5.1 (SignedData), §6.1 (EnvelopedData); RFC 5083 §1 (AuthEnvelopedData).
    """

    DATA = "1.2.840.113549.1.7.1"
    SIGNED_DATA = "1.2.840.113549.1.7.2"
    ENVELOPED_DATA = "1.2.840.113549.1.7.3"
    AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"

    @property
    def oid(self) -> str:
        """The dotted OID."""
        return self.value

    @property
    def der(self) -> bytes:
        """The OID as a DER element (tag, length, content), as it appears in a ContentInfo."""
        return _der_oid(self.value)

    @classmethod
    def from_der(cls, element: bytes) -> ContentKind | None:
        """The kind whose DER OID element is ``element``; None for any other content type."""
        return _KIND_BY_DER.get(element)

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

#: Legacy algorithms refused or reported "weak" by default, that an explicit choice accepts for reading archives
#: (`--allow-legacy dsa,sha1,...`, the `[verification] allow_legacy` setting; docs/cli.md): RFC 8551 §2.1 and §2.2
#: (SHA-1 and DSA are no longer used for new messages), §2.7 (3DES and RC2 are historic), the S/MIME Baseline
#: Requirements §6.1.5 (RSA below 2048 bits). Never used for anything mailseal writes.
LEGACY_ALGORITHMS: dict[str, str] = {
    "dsa": "DSA signatures and DSA keys (1024 bits and up)",
    "sha1": "SHA-1 in message digests and certificate signatures",
    "rsa1024": "RSA keys from 1024 bits (2048 otherwise)",
    "3des": "3DES-CBC content encryption, decrypted without a weak-cipher warning",
    "rc2": "RC2-CBC content encryption (128-bit effective key only)",
}


#: Certificate signature algorithms pyca does not name, by OID -> their hash: OIW's dsaWithSHA1 (1.3.14.3.2.27), which
#: the NIST PKITS DSA rows (4.1.4-4.1.6) still use beside RFC 3279's id-dsa-with-sha1.
LEGACY_SIGNATURE_HASHES: dict[str, str] = {"1.3.14.3.2.27": "sha1"}

#: asn1crypto content-cipher name -> the LEGACY_ALGORITHMS name that accepts it.
LEGACY_CIPHER_NAMES: dict[str, str] = {"tripledes_3key": "3des", "rc2": "rc2"}


def legacy_algorithms(value: str | Iterable[str]) -> frozenset[str]:
    """The legacy algorithm names of a comma-separated list or an iterable ("" or empty: none); unknown names are
    refused with the list of known ones."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = frozenset(str(i).strip().lower() for i in items if str(i).strip())
    unknown = sorted(names - set(LEGACY_ALGORITHMS))
    if unknown:
        raise UnsupportedAlgorithmError(f"unknown legacy algorithm {', '.join(unknown)}: choose from "
                                        f"{', '.join(LEGACY_ALGORITHMS)}")
    return names


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
    """A content-encryption algorithm: its CLI name, asn1crypto OID name, OID, key size and whether it is an AEAD."""

    name: str
    oid_name: str
    oid: str
    key_size: int
    aead: bool
    smime_type: str


CONTENT_CIPHERS: dict[str, ContentCipher] = {
    c.name: c
    for c in (
        # Strongest first (RFC 8551 §2.5.2 orders SMIMECapabilities by preference): AEAD before CBC, 256 before 128.
        # RFC 8551 §2.7: AES-128 GCM and AES-256 GCM MUST, ChaCha20-Poly1305 SHOULD+, AES-128 CBC SHOULD-.
        # OIDs: RFC 5084 §3 (GCM), RFC 8103 §5 (ChaCha20-Poly1305), RFC 3565 §4.1 (CBC).
        ContentCipher("aes256-gcm", "aes256_gcm", "2.16.840.1.101.3.4.1.46", 32, True, "authEnveloped-data"),
        ContentCipher("aes128-gcm", "aes128_gcm", "2.16.840.1.101.3.4.1.6", 16, True, "authEnveloped-data"),
        ContentCipher(
            "chacha20-poly1305", "chacha20_poly1305", "1.2.840.113549.1.9.16.3.18", 32, True, "authEnveloped-data"
        ),
        ContentCipher("aes256-cbc", "aes256_cbc", "2.16.840.1.101.3.4.1.42", 32, False, "enveloped-data"),
        ContentCipher("aes128-cbc", "aes128_cbc", "2.16.840.1.101.3.4.1.2", 16, False, "enveloped-data"),
    )
}
#: Keyed by asn1crypto name ("aes256_gcm"), the name the parsed AlgorithmIdentifier gives.
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

# Digest and signature algorithms as written in new SignerInfos (RFC 5754 §2 and §3.3, RFC 8419 §2.3).
DIGEST_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
ECDSA_OIDS = {
    "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3",
    "sha512": "1.2.840.10045.4.3.4",
}
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"  # RFC 3370 §3.2: signature and key transport with PKCS #1 v1.5
OID_RSAES_OAEP = "1.2.840.113549.1.1.7"  # RFC 8017 §A.2.1, for CMS RFC 3560
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"  # RFC 4056
#: Content ciphers mailseal refuses (WEAK_CIPHERS), named when a correspondent still advertises them.
OID_DES_EDE3_CBC = "1.2.840.113549.3.7"  # RFC 3370 §5.1
OID_RC2_CBC = "1.2.840.113549.3.2"  # RFC 3370 §5.2
OID_ED25519 = "1.3.101.112"  # RFC 8419 §2.3

# Signed attributes (RFC 5652 §11, RFC 8551 §2.5.2, RFC 5035 §5.4).
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
OID_COUNTERSIGNATURE = "1.2.840.113549.1.9.6"
OID_SMIME_CAPABILITIES = "1.2.840.113549.1.9.15"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"

# -- Post-quantum algorithms ------------------------------------------------------------------------------------
# RFC 9629 §3: KEMRecipientInfo travels in an OtherRecipientInfo with this type.
OID_ORI_KEM = "1.2.840.113549.1.9.16.13.3"
#: ML-KEM parameter sets (FIPS 203; OIDs from NIST CSOR, RFC 9935 §3) -> OID. pyca/cryptography offers 768 and 1024.
ML_KEM_OIDS = {
    "ml-kem-512": "2.16.840.1.101.3.4.4.1",
    "ml-kem-768": "2.16.840.1.101.3.4.4.2",
    "ml-kem-1024": "2.16.840.1.101.3.4.4.3",
}
ML_KEM_BY_OID = {oid: name for name, oid in ML_KEM_OIDS.items()}
#: RFC 9936 §4: the key-wrap algorithm written for each parameter set (AES-128 wrap for 512, AES-256 otherwise).
ML_KEM_WRAP = {"ml-kem-512": "aes128_wrap", "ml-kem-768": "aes256_wrap", "ml-kem-1024": "aes256_wrap"}
#: Key-wrap algorithm OIDs of a KEMRecipientInfo (RFC 3565 §2.3.2), read from its bytes.
WRAP_OIDS = {
    "aes128_wrap": "2.16.840.1.101.3.4.1.5",
    "aes192_wrap": "2.16.840.1.101.3.4.1.25",
    "aes256_wrap": "2.16.840.1.101.3.4.1.45",
}
WRAP_BY_OID = {oid: name for name, oid in WRAP_OIDS.items()}
#: KEMRecipientInfo key-derivation functions: RFC 8619 §2 HKDF (parameters absent). RFC 9936 §5: HKDF-SHA256 MUST.
KEM_KDFS = {
    "hkdf-sha256": "1.2.840.113549.1.9.16.3.28",
    "hkdf-sha384": "1.2.840.113549.1.9.16.3.29",
    "hkdf-sha512": "1.2.840.113549.1.9.16.3.30",
}
KEM_KDF_BY_OID = {oid: name for name, oid in KEM_KDFS.items()}
KEM_KDF_HASH = {"hkdf-sha256": "sha256", "hkdf-sha384": "sha384", "hkdf-sha512": "sha512"}
#: RFC 9936 §5 also lets senders use KMAC128/KMAC256 (RFC 9688 OIDs); pyca has no KMAC, so these are named, refused.
KEM_KDF_UNSUPPORTED = {"2.16.840.1.101.3.4.2.21": "kmac128", "2.16.840.1.101.3.4.2.22": "kmac256"}
DEFAULT_KEM_KDF = "hkdf-sha256"

#: ML-DSA (FIPS 204; RFC 9881 §2 public keys, RFC 9882 §2 signatures): pure mode, parameters absent.
ML_DSA_OIDS = {
    "ml-dsa-44": "2.16.840.1.101.3.4.3.17",
    "ml-dsa-65": "2.16.840.1.101.3.4.3.18",
    "ml-dsa-87": "2.16.840.1.101.3.4.3.19",
}
ML_DSA_BY_OID = {oid: name for name, oid in ML_DSA_OIDS.items()}
#: HashML-DSA (pre-hash) OIDs: RFC 9881 §2 forbids them in certificates and RFC 9882 does not use them in CMS.
HASH_ML_DSA_OIDS = {
    "hash-ml-dsa-44-with-sha512": "2.16.840.1.101.3.4.3.32",
    "hash-ml-dsa-65-with-sha512": "2.16.840.1.101.3.4.3.33",
    "hash-ml-dsa-87-with-sha512": "2.16.840.1.101.3.4.3.34",
}
#: SLH-DSA (FIPS 205; RFC 9814): pure 20-31, pre-hash 35-46 under 2.16.840.1.101.3.4.3. No SLH-DSA in pyca.
SLH_DSA_OIDS = {
    f"slh-dsa-{family}-{size}": f"2.16.840.1.101.3.4.3.{20 + i}"
    for i, (family, size) in enumerate(
        (f, s) for f in ("sha2", "shake") for s in ("128s", "128f", "192s", "192f", "256s", "256f")
    )
}
HASH_SLH_DSA_OIDS = {f"hash-{name}": f"2.16.840.1.101.3.4.3.{35 + i}" for i, name in enumerate(SLH_DSA_OIDS)}
#: RFC 9882 §3.3: SHA-512 is written with every ML-DSA signature; SHA-256 is read for ML-DSA-44 (OpenSSL 3.5).
ML_DSA_DIGEST = "sha512"
OID_CMS_ALGORITHM_PROTECTION = "1.2.840.113549.1.9.52"  # RFC 6211 §2 (Bouncy Castle sends it)
#: Names used for asn1crypto's maps (registered in cms/asn1.py) so that every layer shows readable names.
PQ_SIGNATURE_NAMES = {
    **{oid: name.replace("-", "_") for name, oid in ML_DSA_OIDS.items()},
    **{oid: name.replace("-", "_") for name, oid in HASH_ML_DSA_OIDS.items()},
    **{oid: name.replace("-", "_") for name, oid in SLH_DSA_OIDS.items()},
    **{oid: name.replace("-", "_") for name, oid in HASH_SLH_DSA_OIDS.items()},
}
PQ_KEY_NAMES = {
    **PQ_SIGNATURE_NAMES,
    **{oid: name.replace("-", "_") for name, oid in ML_KEM_OIDS.items()},
}

# Our SMIMECapabilities, strongest first (RFC 8551 §2.5.2): content ciphers, then key transport and signatures.
CAPABILITY_OIDS: tuple[str, ...] = (
    *(c.oid for c in CONTENT_CIPHERS.values()),
    OID_RSAES_OAEP,
    OID_RSA_ENCRYPTION,
    OID_RSASSA_PSS,
    ECDSA_OIDS["sha256"],
    OID_ED25519,
    # RFC 9936 §8 / RFC 9882 §4: the ML-KEM and ML-DSA parameter sets we read and write, parameters absent.
    ML_KEM_OIDS["ml-kem-1024"],
    ML_KEM_OIDS["ml-kem-768"],
    *ML_DSA_OIDS.values(),
)

_KIND_BY_DER = {kind.der: kind for kind in ContentKind}

__all__ = [
    "CAPABILITY_OIDS",
    "CIPHER_BY_OID",
    "CONTENT_CIPHERS",
    "DEFAULT_CIPHER",
    "DEFAULT_DIGEST",
    "DEFAULT_KEM_KDF",
    "DIGEST_OIDS",
    "ECDSA_OIDS",
    "HASH_ML_DSA_OIDS",
    "HASH_SLH_DSA_OIDS",
    "KDF_FOR_CURVE",
    "KDF_HASH",
    "KEM_KDFS",
    "KEM_KDF_BY_OID",
    "KEM_KDF_HASH",
    "KEM_KDF_UNSUPPORTED",
    "LEGACY_ALGORITHMS",
    "LEGACY_CIPHER_NAMES",
    "LEGACY_DECRYPT",
    "LEGACY_SIGNATURE_HASHES",
    "MICALG",
    "ML_DSA_BY_OID",
    "ML_DSA_DIGEST",
    "ML_DSA_OIDS",
    "ML_KEM_BY_OID",
    "ML_KEM_OIDS",
    "ML_KEM_WRAP",
    "OID_CMS_ALGORITHM_PROTECTION",
    "OID_CONTENT_TYPE",
    "OID_COUNTERSIGNATURE",
    "OID_ED25519",
    "OID_MESSAGE_DIGEST",
    "OID_ORI_KEM",
    "OID_RSAES_OAEP",
    "OID_RSASSA_PSS",
    "OID_RSA_ENCRYPTION",
    "OID_SIGNING_CERTIFICATE_V2",
    "OID_SIGNING_TIME",
    "OID_SMIME_CAPABILITIES",
    "PQ_KEY_NAMES",
    "PQ_SIGNATURE_NAMES",
    "REFUSED_DIGESTS",
    "SIGNING_DIGESTS",
    "SLH_DSA_OIDS",
    "WEAK_CIPHERS",
    "WEAK_DIGESTS",
    "WRAP_BY_OID",
    "WRAP_FOR_KEY_SIZE",
    "WRAP_KEY_SIZE",
    "WRAP_OIDS",
    "ContentCipher",
    "ContentKind",
    "content_cipher",
    "hash_algorithm",
    "legacy_algorithms",
]

"""ASN.1 definitions that asn1crypto lacks (RFC 5084 GCM, RFC 8103 ChaCha20, RFC 5753/8418 ECDH KDFs, RFC 5652)."""

from __future__ import annotations

from typing import Any

from asn1crypto import algos, cms, core, keys
from asn1crypto import tsp as _tsp  # noqa: F401  (registers signingCertificate/V2 attribute types)

from .algorithms import CONTENT_CIPHERS, ML_DSA_OIDS, PQ_KEY_NAMES, PQ_SIGNATURE_NAMES


class GCMParameters(core.Sequence):
    """RFC 5084 §3.2: GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen AES-GCM-ICVlen DEFAULT 12 }."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class ChaCha20Poly1305Nonce(core.OctetString):
    """RFC 8103 §3: AEADChaCha20Poly1305Nonce ::= OCTET STRING (SIZE(12))."""


class ECCCMSSharedInfo(core.Sequence):
    """RFC 5753 §7.2: the KDF input that binds the wrap algorithm and key length."""

    _fields = [
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _register(oid_cls: Any, entries: dict[str, str]) -> None:
    oid_cls._map.update(entries)
    # Rebuilt here, not reset to None: asn1crypto builds the reverse map only at a class's first instantiation,
    # so a class already used before this module was imported would keep None and fail on the next name.
    oid_cls._reverse_map = {name: oid for oid, name in oid_cls._map.items()}


KEY_AGREEMENT_OIDS = {
    # RFC 5753 §7.1.4 and RFC 8418 §2.2: ECDH / X25519 / X448 with the ANSI X9.63 KDF.
    "1.3.133.16.840.63.0.2": "dh_single_pass_stddh_sha1kdf",
    "1.3.132.1.11.0": "dh_single_pass_stddh_sha224kdf",
    "1.3.132.1.11.1": "dh_single_pass_stddh_sha256kdf",
    "1.3.132.1.11.2": "dh_single_pass_stddh_sha384kdf",
    "1.3.132.1.11.3": "dh_single_pass_stddh_sha512kdf",
    # RFC 5753 §7.1.4 cofactor ECDH: identical to standard ECDH on the prime curves (cofactor 1) S/MIME allows.
    "1.3.133.16.840.63.0.3": "dh_single_pass_cofactordh_sha1kdf",
    "1.3.132.1.14.0": "dh_single_pass_cofactordh_sha224kdf",
    "1.3.132.1.14.1": "dh_single_pass_cofactordh_sha256kdf",
    "1.3.132.1.14.2": "dh_single_pass_cofactordh_sha384kdf",
    "1.3.132.1.14.3": "dh_single_pass_cofactordh_sha512kdf",
    # RFC 8418 §2.2 / RFC 9629 ecdhHKDF: HKDF in place of the X9.63 KDF.
    "1.2.840.113549.1.9.16.3.19": "dh_single_pass_stddh_hkdf_sha256",
    "1.2.840.113549.1.9.16.3.20": "dh_single_pass_stddh_hkdf_sha384",
    "1.2.840.113549.1.9.16.3.21": "dh_single_pass_stddh_hkdf_sha512",
}

_register(cms.KeyEncryptionAlgorithmId, KEY_AGREEMENT_OIDS)
_CHACHA = CONTENT_CIPHERS["chacha20-poly1305"]
_register(algos.EncryptionAlgorithmId, {_CHACHA.oid: _CHACHA.oid_name})
# RFC 3217 Triple-DES key wrap: read only, for mail written by older OpenSSL versions.
_register(cms.KeyEncryptionAlgorithmId, {"1.2.840.113549.1.9.16.3.6": "tripledes_wrap"})
# MD4 gets a name so that it is refused as broken rather than reported as unknown.
_register(algos.DigestAlgorithmId, {"1.2.840.113549.2.4": "md4"})

# SLH-DSA, HashML-DSA and ML-KEM get names, so that inspection shows a name, not a dotted OID. ML-DSA itself is
# left to pyhanko-certvalidator, which registers its own names ("mldsa65") and validates certificate paths by them;
# cms/verification.py names signatures from PQ_SIGNATURE_NAMES whatever asn1crypto says.
_PYHANKO_NAMED = frozenset(ML_DSA_OIDS.values())
_register(algos.SignedDigestAlgorithmId, {o: n for o, n in PQ_SIGNATURE_NAMES.items() if o not in _PYHANKO_NAMED})
_register(keys.PublicKeyAlgorithmId, {o: n for o, n in PQ_KEY_NAMES.items() if o not in _PYHANKO_NAMED})

for _name in KEY_AGREEMENT_OIDS.values():
    # The parameters of a key agreement algorithm are the key wrap AlgorithmIdentifier (RFC 5753 §7.1.3).
    cms.KeyEncryptionAlgorithm._oid_specs[_name] = cms.KeyEncryptionAlgorithm
for _name in ("aes128_gcm", "aes192_gcm", "aes256_gcm"):
    algos.EncryptionAlgorithm._oid_specs[_name] = GCMParameters
algos.EncryptionAlgorithm._oid_specs["chacha20_poly1305"] = ChaCha20Poly1305Nonce

__all__ = ["KEY_AGREEMENT_OIDS", "ChaCha20Poly1305Nonce", "ECCCMSSharedInfo", "GCMParameters"]

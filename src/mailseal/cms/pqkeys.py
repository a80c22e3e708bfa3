"""ML-KEM and ML-DSA private keys in the three RFC 9935 §6 / RFC 9881 §6 forms: seed, expandedKey and both.

pyca/cryptography loads only the seed form (and writes only it). The ``both`` form is read here: the seed is
used and the expanded half is checked against what the seed gives (the parts pyca exposes: for ML-KEM the
encapsulation key, H(ek) and z; for ML-DSA rho and tr). An expanded-only key cannot be used with pyca at all: it is
refused with a sentence that says so. ML-KEM-512 and the SLH-DSA keys are refused as unsupported algorithms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from ..errors import MalformedCMSError, PrivateKeyError, UnsupportedAlgorithmError
from . import der
from .algorithms import ML_DSA_BY_OID, ML_KEM_BY_OID, SLH_DSA_OIDS

MLKEMPrivateKey = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey
MLKEMPublicKey = mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey
MLDSAPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
MLDSAPublicKey = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey

_KEM_CLASSES: dict[str, type[mlkem.MLKEM768PrivateKey] | type[mlkem.MLKEM1024PrivateKey]] = {
    "ml-kem-768": mlkem.MLKEM768PrivateKey,
    "ml-kem-1024": mlkem.MLKEM1024PrivateKey,
}
_DSA_CLASSES: dict[
    str, type[mldsa.MLDSA44PrivateKey] | type[mldsa.MLDSA65PrivateKey] | type[mldsa.MLDSA87PrivateKey]
] = {
    "ml-dsa-44": mldsa.MLDSA44PrivateKey,
    "ml-dsa-65": mldsa.MLDSA65PrivateKey,
    "ml-dsa-87": mldsa.MLDSA87PrivateKey,
}
# FIPS 203 §7 / FIPS 204 §7.2 sizes: the seed, and the length of the decapsulation key's PKE part (384 k).
_KEM_SEED = 64
_KEM_DK_PKE = {"ml-kem-768": 384 * 3, "ml-kem-1024": 384 * 4}
_DSA_SEED = 32
_PEM_KEY = re.compile(rb"-----BEGIN PRIVATE KEY-----\s*(.*?)-----END PRIVATE KEY-----", re.S)


def key_form(private_key_octets: bytes) -> str:
    """Which CHOICE of the RFC 9881/9935 private key an OCTET STRING's content holds: dispatch on the tag."""
    tag = private_key_octets[:1]
    return {b"\x80": "seed", b"\x04": "expanded", b"\x30": "both"}.get(tag, "unknown")


def _parse_pkcs8(data: bytes) -> tuple[str, bytes] | None:
    """(algorithm OID, privateKey octets) of a PKCS#8 OneAsymmetricKey; None when it is not one."""
    try:
        parts = der.children(data)
        if len(parts) < 3 or parts[0][:1] != b"\x02" or parts[1][:1] != b"\x30" or parts[2][:1] != b"\x04":
            return None
        oid = str(core.ObjectIdentifier.load(der.children(parts[1])[0]).dotted)
        return oid, der.content_of(parts[2])
    except (MalformedCMSError, IndexError, ValueError):
        return None


def pq_private_key(data: bytes) -> MLKEMPrivateKey | MLDSAPrivateKey | None:
    """The ML-KEM / ML-DSA key in a PEM or DER PKCS#8 file in any of the three forms; None when the file holds
    some other kind of key (the caller's loader then explains). Raises PrivateKeyError for inconsistent or
    unusable keys and UnsupportedAlgorithmError for parameter sets pyca lacks."""
    m = _PEM_KEY.search(data)
    if m:
        try:
            data = base64.b64decode(b"".join(m.group(1).split()))
        except ValueError:
            return None
    parsed = _parse_pkcs8(data)
    if parsed is None:
        return None
    oid, octets = parsed
    if oid in ML_KEM_BY_OID:
        return _kem_key(ML_KEM_BY_OID[oid], octets)
    if oid in ML_DSA_BY_OID:
        return _dsa_key(ML_DSA_BY_OID[oid], octets)
    if oid in SLH_DSA_OIDS.values():
        raise UnsupportedAlgorithmError("SLH-DSA keys are not supported (pyca/cryptography has no SLH-DSA)")
    return None


def _choice(name: str, octets: bytes, seed_size: int) -> tuple[bytes | None, bytes | None]:
    """(seed, expanded key) of the CHOICE; either may be None."""
    form = key_form(octets)
    try:
        if form == "seed":
            seed = der.content_of(octets)
            if len(seed) != seed_size:
                raise PrivateKeyError(f"the {name} seed has {len(seed)} bytes, not {seed_size}")
            return seed, None
        if form == "expanded":
            return None, der.content_of(octets)
        if form == "both":
            seed_tlv, expanded_tlv = der.children(octets)
            if seed_tlv[:1] != b"\x04" or expanded_tlv[:1] != b"\x04":
                raise PrivateKeyError(f"the {name} private key's 'both' form is malformed")
            seed = der.content_of(seed_tlv)
            if len(seed) != seed_size:
                raise PrivateKeyError(f"the {name} seed has {len(seed)} bytes, not {seed_size}")
            return seed, der.content_of(expanded_tlv)
    except (MalformedCMSError, ValueError):
        raise PrivateKeyError(f"the {name} private key is malformed") from None
    raise PrivateKeyError(f"the {name} private key is in none of the RFC 9881/9935 forms (seed, expanded, both)")


def _expanded_only(name: str) -> PrivateKeyError:
    return PrivateKeyError(
        f"this {name} key holds only the expanded form, which pyca/cryptography cannot use: "
        "export the seed form (RFC 9881/9935 'seed' or 'both') from the tool that made it"
    )


def _kem_key(name: str, octets: bytes) -> MLKEMPrivateKey:
    if name not in _KEM_CLASSES:
        raise UnsupportedAlgorithmError(f"{name.upper()} keys are not supported (pyca/cryptography lacks {name})")
    seed, expanded = _choice(name, octets, _KEM_SEED)
    if seed is None:
        raise _expanded_only(name.upper())
    key = _KEM_CLASSES[name].from_seed_bytes(seed)
    if expanded is not None:
        # FIPS 203 §7.1: dk = dk_PKE || ek || H(ek) || z. dk_PKE cannot be recomputed with pyca; the rest can.
        ek = key.public_key().public_bytes_raw()
        start = _KEM_DK_PKE[name]
        expect = ek + hashlib.sha3_256(ek).digest() + seed[32:]
        if len(expanded) != start + len(expect) or not hmac.compare_digest(expanded[start:], expect):
            raise PrivateKeyError(f"the {name.upper()} private key is inconsistent: its seed and expanded key differ")
    return key


def _dsa_key(name: str, octets: bytes) -> MLDSAPrivateKey:
    seed, expanded = _choice(name, octets, _DSA_SEED)
    if seed is None:
        raise _expanded_only(name.upper())
    key = _DSA_CLASSES[name].from_seed_bytes(seed)
    if expanded is not None:
        # FIPS 204 §7.2: sk = rho || K || tr || s1 || s2 || t0; pk = rho || t1 and tr = H(pk, 64). rho and tr are
        # checked; K, s1, s2 and t0 would need the expansion pyca does not expose.
        pk = key.public_key().public_bytes_raw()
        tr = hashlib.shake_256(pk).digest(64)
        if not (hmac.compare_digest(expanded[:32], pk[:32]) and hmac.compare_digest(expanded[64:128], tr)):
            raise PrivateKeyError(f"the {name.upper()} private key is inconsistent: its seed and expanded key differ")
    return key


__all__ = ["MLDSAPrivateKey", "MLDSAPublicKey", "MLKEMPrivateKey", "MLKEMPublicKey", "key_form", "pq_private_key"]

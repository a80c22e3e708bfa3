"""KEMRecipientInfo (RFC 9629 §3) with ML-KEM (RFC 9936): writing one for a certificate, reading one back.

The structure travels as ``ori`` ([4] IMPLICIT OtherRecipientInfo, oriType id-ori-kem). The KEK is
KDF(IKM = the KEM shared secret, info = DER CMSORIforKEMOtherInfo, L = kekLength) (RFC 9629 §5); with HKDF the salt
is empty (RFC 8619 §3). The content-encryption key is wrapped with AES key wrap under that KEK.

Reading follows the rule of every other recipient type (CONVENTIONS.md, "decryption failures look the same"): a
wrong key, a flipped KEM ciphertext (ML-KEM's implicit rejection gives a pseudo-random secret) or a KDF that does
not match the sender's all end in a substitute content key, so the failure shows only as the one DecryptionError
when the content is opened. Structural faults that do not depend on the key (kekLength not matching the wrap
algorithm, an unknown KDF) are refused up front with a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from ..errors import MalformedCMSError, UnsupportedAlgorithmError
from . import der
from .algorithms import (
    DEFAULT_KEM_KDF,
    KEM_KDF_BY_OID,
    KEM_KDF_HASH,
    KEM_KDF_UNSUPPORTED,
    KEM_KDFS,
    ML_KEM_BY_OID,
    ML_KEM_OIDS,
    ML_KEM_WRAP,
    OID_ORI_KEM,
    WRAP_BY_OID,
    WRAP_KEY_SIZE,
    WRAP_OIDS,
    hash_algorithm,
)

ORI_KEM_DER = der.oid(OID_ORI_KEM)
_ORI_TAG = 0xA4  # RecipientInfo ori: [4] IMPLICIT OtherRecipientInfo (RFC 5652 §6.2)


def kem_name(key: object) -> str | None:
    """The ML-KEM parameter set of a pyca public or private key; None for any other key."""
    if isinstance(key, mlkem.MLKEM768PublicKey | mlkem.MLKEM768PrivateKey):
        return "ml-kem-768"
    if isinstance(key, mlkem.MLKEM1024PublicKey | mlkem.MLKEM1024PrivateKey):
        return "ml-kem-1024"
    return None


def kem_other_info(wrap_tlv: bytes, kek_length: int, ukm: bytes | None) -> bytes:
    """DER CMSORIforKEMOtherInfo (RFC 9629 §5): the KDF's info, binding the wrap algorithm and the KEK length."""
    ukm_field = der.tlv(0xA0, der.octet_string(ukm)) if ukm is not None else b""
    return der.seq(wrap_tlv, der.integer(kek_length), ukm_field)


def derive_kem_kek(shared: bytes, kdf: str, wrap_tlv: bytes, kek_length: int, ukm: bytes | None) -> bytes:
    """The key-encryption key from the KEM's shared secret (RFC 9629 §5, RFC 8619 HKDF with an empty salt)."""
    info = kem_other_info(wrap_tlv, kek_length, ukm)
    return HKDF(algorithm=hash_algorithm(KEM_KDF_HASH[kdf]), length=kek_length, salt=None, info=info).derive(shared)


def kemri_der(cert: x509.Certificate, rid: bytes, cek: bytes, ukm: bytes | None = None) -> bytes:
    """One RecipientInfo (ori / KEMRecipientInfo) for an ML-KEM certificate, in DER. ``rid`` is the
    RecipientIdentifier TLV (issuerAndSerialNumber, or [0] subjectKeyIdentifier)."""
    public = cert.public_key()
    name = kem_name(public)
    if name is None:
        raise UnsupportedAlgorithmError(f"a {type(public).__name__} is not an ML-KEM key")
    assert isinstance(public, mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey)
    shared, kemct = public.encapsulate()
    wrap_name = ML_KEM_WRAP[name]
    wrap_tlv = der.seq(der.oid(WRAP_OIDS[wrap_name]))
    kek_length = WRAP_KEY_SIZE[wrap_name]
    kek = derive_kem_kek(shared, DEFAULT_KEM_KDF, wrap_tlv, kek_length, ukm)
    kemri = der.seq(
        der.integer(0),  # RFC 9629 §3: version is always 0
        rid,
        der.seq(der.oid(ML_KEM_OIDS[name])),  # RFC 9936 §3: parameters absent
        der.octet_string(kemct),
        der.seq(der.oid(KEM_KDFS[DEFAULT_KEM_KDF])),  # RFC 8619 §2: parameters absent
        der.integer(kek_length),
        der.tlv(0xA0, der.octet_string(ukm)) if ukm is not None else b"",
        wrap_tlv,
        der.octet_string(aes_key_wrap(kek, cek)),
    )
    return der.tlv(_ORI_TAG, ORI_KEM_DER + kemri)


@dataclass(frozen=True)
class KemRecipient:
    """A KEMRecipientInfo read from its bytes."""

    rid: bytes  # the RecipientIdentifier TLV as received
    kem: str  # "ml-kem-768", ... (or the dotted OID of another KEM)
    kemct: bytes
    kdf: str
    kek_length: int
    ukm: bytes | None
    wrap_tlv: bytes  # the received AlgorithmIdentifier: the KDF info must repeat the sender's bytes
    wrap: str
    encrypted_key: bytes


def is_kem_ori(raw: bytes) -> bool:
    """Whether a RecipientInfo (as received) is an ori carrying a KEMRecipientInfo."""
    if raw[:1] != bytes([_ORI_TAG]):
        return False
    try:
        return der.children(raw)[0] == ORI_KEM_DER
    except (MalformedCMSError, IndexError):
        return False


def _oid_text(tlv: bytes) -> str:
    from asn1crypto import core

    return str(core.ObjectIdentifier.load(tlv).dotted)


def parse_kemri(raw: bytes) -> KemRecipient:
    """Read the KEMRecipientInfo of an ori RecipientInfo; structural faults raise MalformedCMSError, algorithms
    mailseal cannot use UnsupportedAlgorithmError. Neither depends on the private key."""
    try:
        ori_type, value = der.children(raw)
        if ori_type != ORI_KEM_DER or value[:1] != b"\x30":
            raise MalformedCMSError("the other recipient info is not a KEMRecipientInfo")
        parts = der.children(value)
        version, rid, kem_alg, kemct, kdf_alg, kek_len = parts[:6]
        rest = parts[6:]
        ukm = None
        if rest and rest[0][:1] == b"\xa0":
            ukm = der.content_of(der.children(rest[0])[0])
            rest = rest[1:]
        if len(rest) != 2 or version != der.integer(0) or kemct[:1] != b"\x04" or rest[1][:1] != b"\x04":
            raise MalformedCMSError("the KEMRecipientInfo is malformed")
        kem_oid = _oid_text(der.children(kem_alg)[0])
        kdf_oid = _oid_text(der.children(kdf_alg)[0])
        wrap_tlv = rest[0]
        wrap_oid = _oid_text(der.children(wrap_tlv)[0])
        kek_length = int.from_bytes(der.content_of(kek_len), "big", signed=True)
        if kek_len[:1] != b"\x02":
            raise MalformedCMSError("the KEMRecipientInfo kekLength is not an INTEGER")
    except (ValueError, IndexError):
        raise MalformedCMSError("the KEMRecipientInfo is malformed") from None
    kem = ML_KEM_BY_OID.get(kem_oid, kem_oid)
    if kdf_oid in KEM_KDF_UNSUPPORTED:
        raise UnsupportedAlgorithmError(f"the KEM key derivation {KEM_KDF_UNSUPPORTED[kdf_oid]} is not supported")
    if kdf_oid not in KEM_KDF_BY_OID:
        raise UnsupportedAlgorithmError(f"the KEM key derivation {kdf_oid} is not supported")
    if wrap_oid not in WRAP_BY_OID:
        raise UnsupportedAlgorithmError(f"the key wrap algorithm {wrap_oid} is not supported with a KEM")
    wrap = WRAP_BY_OID[wrap_oid]
    if kek_length != WRAP_KEY_SIZE[wrap]:
        # RFC 9936 §5 (HKDF): implementations MUST confirm that L is consistent with the key-encryption algorithm.
        raise MalformedCMSError(
            f"the KEMRecipientInfo kekLength {kek_length} does not match {wrap} ({WRAP_KEY_SIZE[wrap]} bytes)"
        )
    return KemRecipient(
        rid=rid, kem=kem, kemct=der.content_of(kemct), kdf=KEM_KDF_BY_OID[kdf_oid], kek_length=kek_length,
        ukm=ukm, wrap_tlv=wrap_tlv, wrap=wrap, encrypted_key=der.content_of(rest[1]),
    )


__all__ = [
    "KemRecipient",
    "derive_kem_kek",
    "is_kem_ori",
    "kem_name",
    "kem_other_info",
    "kemri_der",
    "parse_kemri",
]

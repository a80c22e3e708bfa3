"""Build EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083) for many recipients."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO, Literal

from asn1crypto import algos, cms
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from ..errors import LimitExceededError, RecipientError, UsageError
from . import der
from .algorithms import (
    DEFAULT_CIPHER,
    KDF_FOR_CURVE,
    OID_RSA_ENCRYPTION,
    WRAP_FOR_KEY_SIZE,
    ContentCipher,
    ContentKind,
    content_cipher,
)
from .content import ContentEncryptor
from .kemri import is_kem_ori, kem_name, kemri_der
from .keyagreement import curve_name, derive_kek, ephemeral_for, exchange, public_key_info
from .names import name_text
from .signing import to_asn1_cert

KeyTransport = Literal["pkcs1v15", "oaep"]
RecipientId = Literal["issuer-serial", "ski"]
MAX_RECIPIENTS = 500
SEGMENT = 1 << 18  # small pieces are gathered up to this; a streamed chunk (1 MiB) goes out as it is
ALLOWED_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def check_recipient(cert: x509.Certificate) -> None:
    """Refuse certificates whose key cannot, or may not, receive encrypted mail (RFC 8550 §4.4.2)."""
    who = name_text(cert.subject)
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        # e.g. ML-KEM-512, which pyca/cryptography does not offer (docs/pq.md)
        raise RecipientError(f"recipient {who}: the certificate's key algorithm is not supported") from None
    ku = _key_usage(cert)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise RecipientError(f"recipient {who}: RSA keys shorter than 2048 bits are refused ({key.key_size})")
        if ku is not None and not ku.key_encipherment:
            raise RecipientError(f"recipient {who}: the certificate's key usage does not allow keyEncipherment")
    elif isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in ALLOWED_CURVES:
            raise RecipientError(f"recipient {who}: curve {key.curve.name} is not allowed for S/MIME")
        if ku is not None and not ku.key_agreement:
            raise RecipientError(f"recipient {who}: the certificate's key usage does not allow keyAgreement")
    elif kem_name(key) is not None:
        # RFC 9935 §5: an ML-KEM certificate's key usage is keyEncipherment only.
        if ku is not None and not ku.key_encipherment:
            raise RecipientError(f"recipient {who}: the certificate's key usage does not allow keyEncipherment")
    else:
        raise RecipientError(f"recipient {who}: a {type(key).__name__} cannot receive encrypted mail")


def _ski(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        raise UsageError(
            f"recipient {name_text(cert.subject)} has no subjectKeyIdentifier to name it by"
        ) from None


def _issuer_serial(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    a = to_asn1_cert(cert)
    return cms.IssuerAndSerialNumber({"issuer": a.issuer, "serial_number": a.serial_number})


OAEP_SHA256 = algos.RSAESOAEPParams(
    {
        "hash_algorithm": {"algorithm": "sha256"},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
    }
)


def _ktri(cert: x509.Certificate, cek: bytes, transport: KeyTransport, rid: RecipientId) -> cms.RecipientInfo:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    if transport == "oaep":
        # RFC 8551 §2.3 / RFC 4055 §4: RSAES-OAEP with SHA-256 and MGF1-SHA-256.
        enc = key.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        alg = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": OAEP_SHA256})
    else:
        enc = key.encrypt(cek, padding.PKCS1v15())
        alg = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"})
    if rid == "ski":
        ident = cms.RecipientIdentifier(name="subject_key_identifier", value=_ski(cert))
        version = "v2"
    else:
        ident = cms.RecipientIdentifier(name="issuer_and_serial_number", value=_issuer_serial(cert))
        version = "v0"
    ktri = cms.KeyTransRecipientInfo(
        {"version": version, "rid": ident, "key_encryption_algorithm": alg, "encrypted_key": enc}
    )
    return cms.RecipientInfo(name="ktri", value=ktri)


def _kari(cert: x509.Certificate, cek: bytes, rid: RecipientId) -> cms.RecipientInfo:
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey)
    eph = ephemeral_for(public)
    shared = exchange(eph, public)
    kdf = KDF_FOR_CURVE[curve_name(public)]
    wrap_name = WRAP_FOR_KEY_SIZE[len(cek)]
    wrap = cms.KeyEncryptionAlgorithm({"algorithm": wrap_name})
    kek = derive_kek(shared, kdf, wrap, None)
    wrapped = aes_key_wrap(kek, cek)
    if rid == "ski":
        key_rid = cms.KeyAgreementRecipientIdentifier(
            name="r_key_id", value={"subject_key_identifier": _ski(cert)}
        )
    else:
        key_rid = cms.KeyAgreementRecipientIdentifier(name="issuer_and_serial_number", value=_issuer_serial(cert))
    kari = cms.KeyAgreeRecipientInfo(
        {
            "version": "v3",
            "originator": cms.OriginatorIdentifierOrKey(
                name="originator_key", value=public_key_info(eph.public_key())
            ),
            "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": kdf, "parameters": wrap}),
            "recipient_encrypted_keys": [{"rid": key_rid, "encrypted_key": wrapped}],
        }
    )
    return cms.RecipientInfo(name="kari", value=kari)


def _rid_der(cert: x509.Certificate, rid: RecipientId) -> bytes:
    """RecipientIdentifier (RFC 5652 §6.2.1) in DER: issuerAndSerialNumber or [0] subjectKeyIdentifier."""
    if rid == "ski":
        return der.tlv(0x80, _ski(cert))
    return signer_template_sid(cert)


def recipient_info(
    cert: x509.Certificate, cek: bytes, transport: KeyTransport = "pkcs1v15", rid: RecipientId = "issuer-serial"
) -> cms.RecipientInfo:
    if kem_name(cert.public_key()) is not None:
        return cms.RecipientInfo.load(kemri_der(cert, _rid_der(cert, rid), cek))
    if isinstance(cert.public_key(), rsa.RSAPublicKey):
        return _ktri(cert, cek, transport, rid)
    return _kari(cert, cek, rid)


RSA_ENCRYPTION = der.seq(der.oid(OID_RSA_ENCRYPTION), b"\x05\x00")


def recipient_info_der(
    cert: x509.Certificate, cek: bytes, transport: KeyTransport, rid: RecipientId
) -> bytes:
    """One RecipientInfo in DER. The common case (RSA PKCS#1 v1.5, issuer and serial) is built by hand."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and transport == "pkcs1v15" and rid == "issuer-serial":
        sid = signer_template_sid(cert)
        return der.seq(der.integer(0), sid, RSA_ENCRYPTION, der.octet_string(key.encrypt(cek, padding.PKCS1v15())))
    if kem_name(key) is not None:
        return kemri_der(cert, _rid_der(cert, rid), cek)
    return bytes(recipient_info(cert, cek, transport, rid).dump())


def signer_template_sid(cert: x509.Certificate) -> bytes:
    return der.seq(cert.issuer.public_bytes(), der.integer(cert.serial_number))


def _prepare(
    recipients: Sequence[x509.Certificate], cipher: str, key_transport: KeyTransport
) -> ContentCipher:
    if not recipients:
        raise UsageError("encryption needs at least one recipient certificate")
    if len(recipients) > MAX_RECIPIENTS:
        raise LimitExceededError(f"{len(recipients)} recipients exceed the limit of {MAX_RECIPIENTS}")
    if key_transport not in ("pkcs1v15", "oaep"):
        raise UsageError(f"unknown key transport {key_transport!r}")
    spec = content_cipher(cipher)
    for cert in recipients:
        check_recipient(cert)
    return spec


def stream_enveloped_data(
    chunks: Iterable[bytes],
    recipients: Sequence[x509.Certificate],
    write: Callable[[bytes], object],
    *,
    cipher: str = DEFAULT_CIPHER,
    key_transport: KeyTransport = "pkcs1v15",
    recipient_id: RecipientId = "issuer-serial",
    random: Callable[[int], bytes] = os.urandom,
) -> None:
    """Write EnvelopedData / AuthEnvelopedData in indefinite-length BER, encrypting the content as it passes."""
    spec = _prepare(recipients, cipher, key_transport)
    cek = random(spec.key_size)
    infos = [recipient_info_der(c, cek, key_transport, recipient_id) for c in recipients]
    encryptor = ContentEncryptor(spec, cek, random)
    if spec.aead:
        outer, version = ContentKind.AUTH_ENVELOPED_DATA, 0  # RFC 5083 §2.1: version is always 0
    else:
        outer = ContentKind.ENVELOPED_DATA
        # RFC 5652 §6.1: version 3 when any RecipientInfo is an ori (a KEMRecipientInfo, RFC 9629 §3); 0 only
        # when every RecipientInfo is a version 0 KeyTransRecipientInfo; else 2.
        version = 3 if any(is_kem_ori(i) for i in infos) else (0 if all(_is_v0_ktri(i) for i in infos) else 2)
    write(
        der.indefinite(0x30) + outer.der + der.indefinite(0xA0) + der.indefinite(0x30)
        + der.integer(version) + der.set_of(*infos)
        + der.indefinite(0x30) + ContentKind.DATA.der + encryptor.algorithm + der.indefinite(0xA0)
    )
    pending = bytearray()  # small pieces are gathered so that a small message is one segment
    for chunk in chunks:
        if not chunk:
            continue
        piece = encryptor.update(chunk)
        if pending or len(piece) < SEGMENT:
            pending += piece
            if len(pending) < SEGMENT:
                continue
            piece, pending = bytes(pending), bytearray()
        write(bytes([der.OCTET_STRING]) + der.length_bytes(len(piece)))
        write(piece)
    last, tag = encryptor.finalize()
    pending += last
    if pending:
        write(der.octet_string(bytes(pending)))
    write(der.EOC + der.EOC)  # encryptedContent, EncryptedContentInfo
    if tag is not None:
        write(der.octet_string(tag))  # mac
    write(der.EOC + der.EOC + der.EOC)


def _is_v0_ktri(info: bytes) -> bool:
    header, pos = der.parse_header(info)
    return header.tag == 0x30 and info[pos : pos + 3] == b"\x02\x01\x00"


def envelope_data(
    content: bytes | BinaryIO,
    recipients: Sequence[x509.Certificate],
    *,
    cipher: str = DEFAULT_CIPHER,
    key_transport: KeyTransport = "pkcs1v15",
    recipient_id: RecipientId = "issuer-serial",
) -> bytes:
    """Encrypt content for every recipient; returns a BER ContentInfo. Low level: prefer ``mailseal.encrypt``."""
    chunks: Iterable[bytes]
    if isinstance(content, bytes | bytearray | memoryview):
        chunks = [bytes(content)]
    else:
        chunks = iter(lambda: content.read(1 << 20), b"")
    out: list[bytes] = []
    stream_enveloped_data(
        chunks, recipients, out.append, cipher=cipher, key_transport=key_transport, recipient_id=recipient_id
    )
    return b"".join(out)


__all__ = [
    "KeyTransport",
    "RecipientId",
    "check_recipient",
    "envelope_data",
    "recipient_info",
    "recipient_info_der",
    "stream_enveloped_data",
]

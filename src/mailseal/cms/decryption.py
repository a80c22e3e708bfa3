"""Open EnvelopedData / AuthEnvelopedData (RFC 5652 §6, RFC 5083) without leaking why a key failed."""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, padding, rsa, x448, x25519

from ..errors import (
    DecryptionError,
    LimitExceededError,
    MalformedCMSError,
    NoMatchingRecipientError,
    NotEncryptedError,
    UnsupportedAlgorithmError,
)
from ..limits import DEFAULT_LIMITS, Limits
from ..streamio import Region, region_of_file, spool
from . import der
from .algorithms import ML_KEM_BY_OID, ContentKind, hash_algorithm
from .content import ContentDecryptor, algorithm_name, content_key_size, is_aead
from .der import BerReader, Readable
from .identity import PrivateKey
from .inspection import RecipientIdentifier, recipient_identifiers
from .inspection import certificate_ski as _cert_ski
from .kemri import derive_kem_kek, is_kem_ori, kem_name, parse_kemri
from .keyagreement import derive_kek, exchange, originator_public_key
from .keywrap import key_unwrap
from .parsing import cms_bytes
from .signing import to_asn1_cert
from .token import TokenKey

MAX_RECIPIENT_INFOS = DEFAULT_LIMITS.max_recipient_infos  # the default; limits.py


@dataclass(frozen=True)
class DecryptionInfo:
    """The facts a report needs: which structure, which algorithm, which recipient matched."""

    content_type: str
    kind: str  # "enveloped" or "auth-enveloped"
    content_algorithm: str
    key_algorithm: str
    recipient_index: int
    integrity_protected: bool
    recipient_count: int


@dataclass(frozen=True)
class DecryptedContent:
    """Plaintext in memory with the facts about it (``decrypt_data``)."""

    content: bytes
    content_type: str
    kind: str
    content_algorithm: str
    key_algorithm: str
    recipient_index: int
    integrity_protected: bool
    recipient_count: int


def _rid_matches(rid: Any, cert: x509.Certificate | None) -> bool:
    if cert is None:
        return True
    if rid.name == "issuer_and_serial_number":
        if rid.chosen["serial_number"].native != cert.serial_number:
            return False
        # The same encoding is the normal case and cheap to compare; otherwise compare as RFC 5280 names.
        return bool(rid.chosen["issuer"].dump() == cert.issuer.public_bytes()
                    or rid.chosen["issuer"] == to_asn1_cert(cert).issuer)
    if rid.name == "subject_key_identifier":
        return bool(rid.chosen.native == _cert_ski(cert))
    if rid.name == "r_key_id":
        return bool(rid.chosen["subject_key_identifier"].native == _cert_ski(cert))
    return False


def substitute_key(key: PrivateKey, encrypted_key: bytes, size: int) -> bytes:
    """The key used when unwrapping fails (RFC 3218 §2.3 implicit rejection). It is derived from the private key
    and the encrypted key, like OpenSSL's implicit rejection, so the same message always fails the same way: a
    random substitute would let an attacker tell a bad padding from a good one by asking twice."""
    secret = _rejection_secret(key)
    return hmac.new(secret, b"mailseal implicit rejection" + size.to_bytes(2, "big") + encrypted_key,
                    hashlib.sha256).digest()[:size]


def _rejection_secret(key: PrivateKey) -> bytes:
    cached = _REJECTION_SECRETS.get(id(key))
    if cached is not None and cached[0] is key:
        return cached[1]
    if isinstance(key, TokenKey):
        # The key never leaves its token: the token computes a per-key secret instead (see TokenKey).
        der = key.rejection_secret()
    else:
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    secret = hashlib.sha256(b"mailseal rejection secret" + der).digest()
    if len(_REJECTION_SECRETS) > 64:
        _REJECTION_SECRETS.clear()
    _REJECTION_SECRETS[id(key)] = (key, secret)
    return secret


_REJECTION_SECRETS: dict[int, tuple[PrivateKey, bytes]] = {}


def _ktri_key(alg_tlv: bytes, name: str, enc: bytes, key: PrivateKey, size: int) -> bytes:
    """RSA key transport with implicit rejection (RFC 3218 §2.3): failures yield a substitute key, not an error."""
    if not isinstance(key, rsa.RSAPrivateKey):
        return substitute_key(key, enc, size)
    try:
        if name == "rsaes_oaep":
            params = cms.KeyEncryptionAlgorithm.load(alg_tlv)["parameters"]
            h = hash_algorithm(params["hash_algorithm"]["algorithm"].native)
            mgf = hash_algorithm(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            label = params["p_source_algorithm"]["parameters"].native or None
            cek = key.decrypt(enc, padding.OAEP(padding.MGF1(mgf), h, label))
        elif name == "rsaes_pkcs1v15":
            cek = key.decrypt(enc, padding.PKCS1v15())
        else:
            raise UnsupportedAlgorithmError(f"key transport algorithm {name} is not supported")
    except UnsupportedAlgorithmError:
        raise
    except Exception:
        cek = substitute_key(key, enc, size)
    if len(cek) != size:
        cek = substitute_key(key, enc, size)
    return cek


@lru_cache(maxsize=64)
def _key_algorithm_name(oid_tlv: bytes) -> str:
    return str(cms.KeyEncryptionAlgorithmId.load(oid_tlv).native)


@lru_cache(maxsize=256)
def _issuer_serial(cert: x509.Certificate) -> bytes:
    return der.seq(cert.issuer.public_bytes(), der.integer(cert.serial_number))


def _ktri_rid_matches(rid: bytes, cert: x509.Certificate | None) -> bool:
    """KeyTransRecipientInfo rid, compared on its received bytes first (the usual case), then by meaning."""
    if cert is None:
        return True
    if rid[:1] == b"\x30" and rid == _issuer_serial(cert):
        return True
    if rid[:1] == b"\x80":
        return rid[der.parse_header(rid)[1] :] == _cert_ski(cert)
    return _rid_matches(cms.RecipientIdentifier.load(rid), cert)


def _kari_key(kari: cms.KeyAgreeRecipientInfo, rek: Any, key: PrivateKey, size: int) -> bytes:
    wrapped = rek["encrypted_key"].native
    if not isinstance(key, ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey):
        return substitute_key(key, wrapped, size)
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise UnsupportedAlgorithmError("key agreement with a static originator key is not supported")
    kdf = kari["key_encryption_algorithm"]["algorithm"].native
    wrap = kari["key_encryption_algorithm"]["parameters"]
    if not isinstance(wrap, cms.KeyEncryptionAlgorithm):
        wrap = cms.KeyEncryptionAlgorithm.load(wrap.dump())
    ukm = kari["ukm"].native
    try:
        peer = originator_public_key(originator.chosen, key)
        shared = exchange(key, peer)
    except (ValueError, TypeError):
        return substitute_key(key, wrapped, size)
    kek = derive_kek(shared, str(kdf), wrap, ukm)
    try:
        cek = key_unwrap(str(wrap["algorithm"].native), kek, wrapped)
    except Exception:
        return substitute_key(key, wrapped, size)
    return cek if len(cek) == size else substitute_key(key, wrapped, size)


def _kemri_key(raw: bytes, key: PrivateKey, size: int) -> bytes:
    """KEMRecipientInfo (RFC 9629 §5): decapsulate, derive the KEK, unwrap. Every failure that depends on the key
    (another KEM, a flipped ciphertext, whose implicit rejection gives a pseudo-random secret, a wrong KDF) yields a
    substitute key, so that it shows only as the one DecryptionError."""
    info = parse_kemri(raw)
    if kem_name(key) != info.kem:
        return substitute_key(key, info.encrypted_key, size)
    assert isinstance(key, mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey)
    try:
        shared = key.decapsulate(info.kemct)
        kek = derive_kem_kek(shared, info.kdf, info.wrap_tlv, info.kek_length, info.ukm)
        cek = key_unwrap(info.wrap, kek, info.encrypted_key)
    except Exception:
        return substitute_key(key, info.encrypted_key, size)
    return cek if len(cek) == size else substitute_key(key, info.encrypted_key, size)


@dataclass
class _Prefix:
    auth: bool
    recipient_infos: list[bytes]  # each RecipientInfo as received
    algorithm: algos.EncryptionAlgorithm
    inner_type: str
    eci_indefinite: bool
    outer_indefinite: bool


@lru_cache(maxsize=64)
def _content_type_name(element: bytes) -> str:
    try:
        return str(core.ObjectIdentifier.load(element).native)
    except Exception:
        raise MalformedCMSError("the CMS content type is not an object identifier") from None


def _read_prefix(r: BerReader, limits: Limits = DEFAULT_LIMITS) -> _Prefix:
    """Everything before the encrypted content: recipients and the content encryption algorithm."""
    outer = r.header()
    if outer.tag != 0x30:
        raise MalformedCMSError("the data is not a CMS structure (it does not start with an ASN.1 SEQUENCE)")
    ctype = r.element()
    kind = ContentKind.from_der(ctype)
    if kind not in (ContentKind.ENVELOPED_DATA, ContentKind.AUTH_ENVELOPED_DATA):
        name = cms.ContentType.load(ctype).native if ctype[:1] == b"\x06" else "not CMS"
        raise NotEncryptedError(f"the CMS object is {name}, not EnvelopedData or AuthEnvelopedData")
    auth = kind is ContentKind.AUTH_ENVELOPED_DATA
    if r.header().tag != 0xA0 or r.header().tag != 0x30:
        raise MalformedCMSError("the enveloped structure is malformed")
    r.element()  # version
    if r.peek_tag() == 0xA0:
        r.element()  # originatorInfo: certificates and CRLs of the originator, not needed to decrypt
    ris_der = r.element()
    try:
        if ris_der[:1] != b"\x31":
            raise ValueError("not a SET")
        ris = der.children(ris_der)
    except Exception:
        raise MalformedCMSError("the recipient infos are malformed") from None
    if len(ris) > limits.max_recipient_infos:
        raise LimitExceededError(f"{len(ris)} recipients exceed the limit of {limits.max_recipient_infos} "
                                 "(limits.max_recipient_infos)")
    eci = r.header()
    if eci.tag != 0x30:
        raise MalformedCMSError("the encrypted content info is malformed")
    inner_type = _content_type_name(r.element())
    try:
        alg = algos.EncryptionAlgorithm.load(r.element())
        alg_name = algorithm_name(alg)
    except MalformedCMSError:
        raise
    except Exception:
        raise MalformedCMSError("the content encryption algorithm is malformed") from None
    if auth and not is_aead(alg):
        raise UnsupportedAlgorithmError(
            f"AuthEnvelopedData with the non-authenticated cipher {alg_name} is refused (RFC 5083 §2.1)"
        )
    if not auth and is_aead(alg):
        raise UnsupportedAlgorithmError(f"EnvelopedData must not use the AEAD cipher {alg_name}")
    return _Prefix(auth, ris, alg, inner_type, eci.length is None, outer.length is None)


def _ciphertext(r: BerReader, prefix: _Prefix) -> Iterator[bytes]:
    tag = r.peek_tag()
    if tag not in (0x80, 0xA0):
        raise MalformedCMSError("the enveloped message carries no encrypted content")
    yield from r.octets(r.header())
    if prefix.eci_indefinite:
        r.expect_eoc()


def _read_suffix(r: BerReader, prefix: _Prefix) -> tuple[bytes | None, bytes | None]:
    """authAttrs (as the DER SET OF that is the AAD, RFC 5083 §2.2) and the mac, after the content."""
    aad = None
    tag = None
    if prefix.auth:
        if r.peek_tag() == 0xA1:
            attrs = r.element()
            header, pos = der.parse_header(attrs)
            aad = b"\x31" + der.length_bytes(len(attrs) - pos) + attrs[pos:]
        mac = r.element()
        header, pos = der.parse_header(mac)
        if header.tag != 0x04:
            raise MalformedCMSError("the AuthEnvelopedData mac is not an OCTET STRING")
        tag = mac[pos:]
    return aad, tag


def _candidates(prefix: _Prefix, private_key: PrivateKey, certificate: x509.Certificate | None,
                limits: Limits = DEFAULT_LIMITS) -> list[tuple[int, str, bytes]]:
    size = content_key_size(prefix.algorithm)
    candidates: list[tuple[int, str, bytes]] = []
    for index, raw in enumerate(prefix.recipient_infos):
        limits.check_time()  # limits.message_seconds, at each recipient info (each may cost a private-key operation)
        try:
            if raw[:1] == b"\x30":  # KeyTransRecipientInfo: read from its bytes
                _version, rid, alg, enc = der.children(raw)
                name = _key_algorithm_name(der.children(alg)[0])
                if name in ML_KEM_BY_OID:
                    # RFC 9936 §3: ML-KEM MUST only be used in a KEMRecipientInfo, never as key transport.
                    raise MalformedCMSError("ML-KEM is used as key transport; RFC 9936 allows it only in a "
                                            "KEMRecipientInfo")
                if _ktri_rid_matches(rid, certificate) and isinstance(private_key, rsa.RSAPrivateKey):
                    enc_key = enc[der.parse_header(enc)[1] :]
                    candidates.append((index, name, _ktri_key(alg, name, enc_key, private_key, size)))
                continue
            if is_kem_ori(raw):
                kem_rid = parse_kemri(raw).rid
                if _ktri_rid_matches(kem_rid, certificate) and kem_name(private_key) is not None:
                    candidates.append((index, parse_kemri(raw).kem.replace("-", "_"),
                                       _kemri_key(raw, private_key, size)))
                continue
            ri = cms.RecipientInfo.load(raw)
            if ri.name == "kari":
                for rek in ri.chosen["recipient_encrypted_keys"]:
                    if _rid_matches(rek["rid"], certificate) and not isinstance(private_key, rsa.RSAPrivateKey):
                        key_alg = str(ri.chosen["key_encryption_algorithm"]["algorithm"].native)
                        candidates.append((index, key_alg, _kari_key(ri.chosen, rek, private_key, size)))
        except UnsupportedAlgorithmError:
            raise
        except Exception as exc:
            raise MalformedCMSError(f"recipient info {index + 1} is malformed: {exc}") from None
    if not candidates:
        raise NoMatchingRecipientError("the message is not encrypted for this key/certificate (no matching recipient)")
    return candidates



def enveloped_recipients(open_source: Callable[[], Readable],
                         limits: Limits = DEFAULT_LIMITS) -> tuple[RecipientIdentifier, ...]:
    """The certificates an EnvelopedData or AuthEnvelopedData is encrypted for, in the order of its recipient
    infos, read from the structure's first bytes (the recipient infos come before the content): which keys could
    open it, known before any key is touched."""
    prefix = _read_prefix(BerReader(open_source()), limits)
    found: list[RecipientIdentifier] = []
    for index, raw in enumerate(prefix.recipient_infos):
        try:
            found.extend(recipient_identifiers(cms.RecipientInfo.load(raw)))
        except Exception as exc:
            raise MalformedCMSError(f"recipient info {index + 1} is malformed: {exc}") from None
    return tuple(dict.fromkeys(found))


class Staging(Protocol):
    """Where plaintext goes before it is known to be authentic: the caller releases it only on success."""

    def write(self, data: bytes, /) -> object: ...

    def reset(self) -> None: ...


class SpoolStaging:
    """A temporary file (in memory while small) as staging."""

    def __init__(self) -> None:
        self.file = spool()

    def write(self, data: bytes, /) -> object:
        return self.file.write(data)

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()


def decrypt_to(
    open_source: Callable[[], Readable],
    private_key: PrivateKey,
    certificate: x509.Certificate | None,
    staging: Staging,
    limits: Limits = DEFAULT_LIMITS,
    legacy: frozenset[str] = frozenset(),
) -> DecryptionInfo:
    """Decrypt a CMS EnvelopedData/AuthEnvelopedData read from a stream into ``staging``, in bounded memory.

    Plaintext written to ``staging`` is not yet authentic: only a normal return means the tag or padding was
    right; on any exception the caller must discard it. ``open_source`` returns the CMS bytes from the start; it
    is called a second time only for the rare message with authenticated attributes (their AAD comes after the
    content).
    """
    r = BerReader(open_source())
    prefix = _read_prefix(r, limits)
    ContentDecryptor.check_legacy(prefix.algorithm, legacy)  # a refused cipher is refused before any key is tried
    candidates = _candidates(prefix, private_key, certificate, limits)
    if len(candidates) > 1:
        # Several recipient infos fit (no certificate given): keep the ciphertext and try each key on it.
        cipher_spool = spool()
        for chunk in _ciphertext(r, prefix):
            cipher_spool.write(chunk)
        aad, tag = _read_suffix(r, prefix)
        for index, key_alg, cek in candidates:
            limits.check_time()  # each candidate decrypts the whole content again
            staging.reset()
            try:
                _decrypt_chunks(prefix, cek, region_of_file(cipher_spool).chunks(), aad, tag, staging, legacy)
            except DecryptionError:
                continue
            return _info(prefix, key_alg, index)
        raise DecryptionError()
    index, key_alg, cek = candidates[0]
    decryptor = ContentDecryptor(prefix.algorithm, cek, legacy)
    for chunk in _ciphertext(r, prefix):
        staging.write(decryptor.update(chunk))
    aad, tag = _read_suffix(r, prefix)
    if aad is not None:
        staging.reset()
        again = BerReader(open_source())
        _read_prefix(again, limits)
        _decrypt_chunks(prefix, cek, _ciphertext(again, prefix), aad, tag, staging, legacy)
    else:
        staging.write(decryptor.finalize(tag))
    return _info(prefix, key_alg, index)


def decrypt_stream(
    open_source: Callable[[], Readable],
    private_key: PrivateKey,
    certificate: x509.Certificate | None = None,
    limits: Limits = DEFAULT_LIMITS,
    legacy: frozenset[str] = frozenset(),
) -> tuple[DecryptionInfo, Region]:
    """``decrypt_to`` a temporary file; the Region over it is returned only after the tag or padding check."""
    staging = SpoolStaging()
    try:
        info = decrypt_to(open_source, private_key, certificate, staging, limits, legacy)
    except BaseException:
        staging.file.close()
        raise
    return info, region_of_file(staging.file)


def _decrypt_chunks(
    prefix: _Prefix, cek: bytes, chunks: Iterable[bytes], aad: bytes | None, tag: bytes | None, staging: Staging,
    legacy: frozenset[str] = frozenset(),
) -> None:
    decryptor = ContentDecryptor(prefix.algorithm, cek, legacy)
    if aad is not None:
        decryptor.authenticate(aad)
    for chunk in chunks:
        staging.write(decryptor.update(chunk))
    staging.write(decryptor.finalize(tag))


def _info(prefix: _Prefix, key_alg: str, index: int) -> DecryptionInfo:
    return DecryptionInfo(
        prefix.inner_type,
        "auth-enveloped" if prefix.auth else "enveloped",
        algorithm_name(prefix.algorithm),
        key_alg,
        index,
        prefix.auth,
        len(prefix.recipient_infos),
    )


def decrypt_data(
    data: bytes, private_key: PrivateKey, certificate: x509.Certificate | None = None
) -> DecryptedContent:
    """Decrypt a CMS EnvelopedData or AuthEnvelopedData held in memory. Low level: prefer ``mailseal.decrypt``."""
    raw = cms_bytes(data)
    if not raw or raw[0] != 0x30:
        raise MalformedCMSError("the data is not a CMS structure (it does not start with an ASN.1 SEQUENCE)")
    info, region = decrypt_stream(lambda: io.BytesIO(raw), private_key, certificate)
    content = region.read()
    region.file.close()
    return DecryptedContent(
        content, info.content_type, info.kind, info.content_algorithm, info.key_algorithm, info.recipient_index,
        info.integrity_protected, info.recipient_count,
    )


__all__ = [
    "DecryptedContent",
    "DecryptionInfo",
    "SpoolStaging",
    "Staging",
    "decrypt_data",
    "decrypt_stream",
    "decrypt_to",
    "enveloped_recipients",
    "substitute_key",
]

"""Open EnvelopedData / AuthEnvelopedData (RFC 5652 §6, RFC 5083) without leaking why a key failed."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x448, x25519

from ..errors import (
    DecryptionError,
    LimitExceededError,
    MalformedCMSError,
    NoMatchingRecipientError,
    NotEncryptedError,
    UnsupportedAlgorithmError,
)
from .algorithms import hash_algorithm
from .content import content_key_size, decrypt_content, is_aead
from .identity import PrivateKey
from .keyagreement import derive_kek, exchange, originator_public_key
from .keywrap import key_unwrap
from .parsing import parse_content_info
from .signing import to_asn1_cert
from .verification import _signed_attrs_bytes

MAX_RECIPIENT_INFOS = 1000


@dataclass(frozen=True)
class DecryptedContent:
    """Plaintext with the facts a report needs: which structure, which algorithm, which recipient matched."""

    content: bytes
    content_type: str
    kind: str  # "enveloped" or "auth-enveloped"
    content_algorithm: str
    key_algorithm: str
    recipient_index: int
    integrity_protected: bool
    recipient_count: int


def _cert_ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _rid_matches(rid: Any, cert: x509.Certificate | None) -> bool:
    if cert is None:
        return True
    if rid.name == "issuer_and_serial_number":
        a = to_asn1_cert(cert)
        return bool(rid.chosen["serial_number"].native == a.serial_number and rid.chosen["issuer"] == a.issuer)
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
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    secret = hashlib.sha256(b"mailseal rejection secret" + der).digest()
    if len(_REJECTION_SECRETS) > 64:
        _REJECTION_SECRETS.clear()
    _REJECTION_SECRETS[id(key)] = (key, secret)
    return secret


_REJECTION_SECRETS: dict[int, tuple[PrivateKey, bytes]] = {}


def _ktri_key(ktri: cms.KeyTransRecipientInfo, key: PrivateKey, size: int) -> bytes:
    """RSA key transport with implicit rejection (RFC 3218 §2.3): failures yield a substitute key, not an error."""
    enc = ktri["encrypted_key"].native
    if not isinstance(key, rsa.RSAPrivateKey):
        return substitute_key(key, enc, size)
    alg = ktri["key_encryption_algorithm"]
    name = alg["algorithm"].native
    try:
        if name == "rsaes_oaep":
            params = alg["parameters"]
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


def decrypt_data(
    data: bytes, private_key: PrivateKey, certificate: x509.Certificate | None = None
) -> DecryptedContent:
    """Decrypt a CMS EnvelopedData or AuthEnvelopedData. Low level: prefer ``mailseal.decrypt``."""
    info = parse_content_info(data)
    ctype = info["content_type"].native
    if ctype not in ("enveloped_data", "authenticated_enveloped_data"):
        raise NotEncryptedError(f"the CMS object is {ctype}, not EnvelopedData or AuthEnvelopedData")
    auth = ctype == "authenticated_enveloped_data"
    try:
        env = info["content"]
        eci = env["auth_encrypted_content_info" if auth else "encrypted_content_info"]
        alg = eci["content_encryption_algorithm"]
        alg_name = str(alg["algorithm"].native)
        ciphertext = eci["encrypted_content"].native
        inner_type = str(eci["content_type"].native)
        ris = list(env["recipient_infos"])
        tag = env["mac"].native if auth else None
        aad = _signed_attrs_bytes(env["auth_attrs"]) if auth and env["auth_attrs"].contents else None
    except Exception as exc:
        raise MalformedCMSError(f"the enveloped structure is malformed: {exc}") from None
    if ciphertext is None:
        raise MalformedCMSError("the enveloped message carries no encrypted content")
    if len(ris) > MAX_RECIPIENT_INFOS:
        raise LimitExceededError(f"{len(ris)} recipients exceed the limit of {MAX_RECIPIENT_INFOS}")
    if auth and not is_aead(alg):
        raise UnsupportedAlgorithmError(
            f"AuthEnvelopedData with the non-authenticated cipher {alg_name} is refused (RFC 5083 §2.1)"
        )
    if not auth and is_aead(alg):
        raise UnsupportedAlgorithmError(f"EnvelopedData must not use the AEAD cipher {alg_name}")
    size = content_key_size(alg)
    candidates: list[tuple[int, str, bytes]] = []
    for index, ri in enumerate(ris):
        try:
            if ri.name == "ktri" and _rid_matches(ri.chosen["rid"], certificate):
                if isinstance(private_key, rsa.RSAPrivateKey):
                    key_alg = str(ri.chosen["key_encryption_algorithm"]["algorithm"].native)
                    candidates.append((index, key_alg, _ktri_key(ri.chosen, private_key, size)))
            elif ri.name == "kari":
                for rek in ri.chosen["recipient_encrypted_keys"]:
                    if _rid_matches(rek["rid"], certificate) and not isinstance(private_key, rsa.RSAPrivateKey):
                        key_alg = str(ri.chosen["key_encryption_algorithm"]["algorithm"].native)
                        candidates.append((index, key_alg, _kari_key(ri.chosen, rek, private_key, size)))
        except UnsupportedAlgorithmError:
            raise
        except Exception as exc:
            raise MalformedCMSError(f"recipient info {index + 1} is malformed: {exc}") from None
    if not candidates:
        raise NoMatchingRecipientError(
            "the message is not encrypted for this key/certificate (no matching recipient)"
        )
    for index, key_alg, cek in candidates:
        try:
            plain = decrypt_content(alg, cek, ciphertext, tag, aad)
        except DecryptionError:
            continue
        return DecryptedContent(
            plain, inner_type, "auth-enveloped" if auth else "enveloped", alg_name, key_alg, index, auth, len(ris)
        )
    raise DecryptionError()


__all__ = ["DecryptedContent", "decrypt_data"]

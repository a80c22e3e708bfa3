"""Signing/decryption identities and certificate loading: PEM, DER, PKCS#7 certs-only (RFC 5652 §5) and PKCS#12."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, mlkem, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import pkcs12

from ..errors import (
    CertificateError,
    KeyCertificateMismatchError,
    PasswordNeededError,
    PrivateKeyError,
    UsageError,
    WrongPasswordError,
)

if TYPE_CHECKING:
    from .token import TokenSettings

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | x25519.X25519PrivateKey
    | x448.X448PrivateKey
    | mlkem.MLKEM768PrivateKey
    | mlkem.MLKEM1024PrivateKey
    | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey
    | mldsa.MLDSA87PrivateKey
)
PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | x25519.X25519PublicKey
    | x448.X448PublicKey
    | mlkem.MLKEM768PublicKey
    | mlkem.MLKEM1024PublicKey
    | mldsa.MLDSA44PublicKey
    | mldsa.MLDSA65PublicKey
    | mldsa.MLDSA87PublicKey
)

#: A password as callers give it: text (encoded as UTF-8, as OpenSSL and gpgsm take a typed pass phrase) or bytes.
Password = str | bytes

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\s*(.*?)-----END \1-----", re.S)
_KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY")


def password_bytes(password: Password | None) -> bytes | None:
    """The bytes of a password for OpenSSL: a ``str`` as UTF-8, ``bytes`` unchanged, None stays None."""
    if password is None or isinstance(password, bytes):
        return password
    if isinstance(password, str):
        return password.encode("utf-8")
    raise TypeError(f"a password must be str or bytes, not {type(password).__name__}")


def _public_bytes(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class Identity:
    """A private key with its certificate and the chain above it (intermediates, optionally the root)."""

    private_key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if _public_bytes(self.private_key.public_key()) != _public_bytes(self.certificate.public_key()):  # type: ignore[arg-type]
            raise KeyCertificateMismatchError("the private key does not belong to the certificate given")

    @classmethod
    def from_pkcs12(cls, data: bytes, password: Password | None = None) -> Identity:
        """Load key, certificate and chain from a PKCS#12 (.p12/.pfx) file's bytes."""
        key, cert, extra = load_pkcs12(data, password)
        if cert is None:
            raise CertificateError("the PKCS#12 file holds no certificate for its key")
        return cls(key, cert, tuple(c for c in extra if c != cert))

    @classmethod
    def from_pem(
        cls,
        key: bytes,
        certificate: bytes | None = None,
        chain: bytes | None = None,
        password: Password | None = None,
    ) -> Identity:
        """Load a PEM/DER private key plus a certificate (in the key file or separate) and an optional chain."""
        private_key = load_private_key(key, password)
        certs = [] if certificate is None else load_certificates(certificate)
        if certificate is None and b"-----BEGIN CERTIFICATE" in key:
            certs = load_certificates(key)
        if not certs:
            raise UsageError("no certificate given for the private key (use --cert or a PKCS#12 file)")
        return cls._matched(private_key, certs, chain, "the private key does not belong to the certificate given")

    @classmethod
    def from_token(
        cls,
        uri: str,
        certificate: bytes | None = None,
        chain: bytes | None = None,
        settings: TokenSettings | None = None,
    ) -> Identity:
        """A key on a PKCS#11 token (RFC 7512 URI; the PIN from ``$MAILSEAL_PKCS11_PIN``) with its certificate:
        the one given, else the certificate object with the key's id on the token."""
        from .token import open_key

        given = load_certificates(certificate) if certificate is not None else []
        key, on_token = open_key(uri, given[0].public_key() if given else None, settings)
        certs = given or ([x509.load_der_x509_certificate(on_token)] if on_token is not None else [])
        if not certs:
            raise UsageError("the token holds no certificate with the key's id: give one with --cert")
        return cls._matched(key, certs, chain, "the key on the token does not belong to the certificate given")

    @classmethod
    def _matched(
        cls, key: PrivateKey, certs: list[x509.Certificate], chain: bytes | None, mismatch: str
    ) -> Identity:
        """The identity of ``key`` with its own certificate among ``certs``; the others, then ``chain``, follow."""
        own = _public_bytes(key.public_key())
        mine = [c for c in certs if _public_bytes(c.public_key()) == own]  # type: ignore[arg-type]
        if not mine:
            raise KeyCertificateMismatchError(mismatch)
        rest = [c for c in certs if c is not mine[0]]
        if chain is not None:
            rest.extend(load_certificates(chain))
        return cls(key, mine[0], tuple(rest))

    @classmethod
    def load(
        cls,
        key_path: str | Path,
        cert_path: str | Path | None = None,
        chain_path: str | Path | None = None,
        password: Password | None = None,
    ) -> Identity:
        """Load from files: a PKCS#12 file, or a PEM/DER key with certificate and chain files; a ``pkcs11:`` URI
        as ``key_path`` names a key on a token (``password`` is not used: the PIN comes from the environment)."""
        if isinstance(key_path, str) and key_path.startswith("pkcs11:"):
            return cls.from_token(
                key_path,
                Path(cert_path).read_bytes() if cert_path is not None else None,
                Path(chain_path).read_bytes() if chain_path is not None else None,
            )
        data = pkcs12_from_pem(Path(key_path).read_bytes())
        if looks_like_pkcs12(data):
            ident = cls.from_pkcs12(data, password)
            if cert_path is not None or chain_path is not None:
                extra: list[x509.Certificate] = list(ident.chain)
                for p in (cert_path, chain_path):
                    if p is not None:
                        extra.extend(load_certificates(Path(p).read_bytes()))
                ident = cls(ident.private_key, ident.certificate, tuple(extra))
            return ident
        cert = Path(cert_path).read_bytes() if cert_path is not None else None
        chain = Path(chain_path).read_bytes() if chain_path is not None else None
        return cls.from_pem(data, cert, chain, password)


def pkcs12_from_pem(data: bytes) -> bytes:
    """Some tools armour PKCS#12 as ``-----BEGIN PKCS12-----``; return the DER inside, else the data as is."""
    m = _PEM_BLOCK.search(data)
    if m and m.group(1) in (b"PKCS12", b"PKCS #12"):
        import base64

        return base64.b64decode(b"".join(m.group(2).split()))
    return data


def looks_like_pkcs12(data: bytes) -> bool:
    """PKCS#12 is a DER SEQUENCE whose first element is INTEGER 3 (RFC 7292 §4)."""
    if not data.startswith(b"\x30") or len(data) < 2:
        return False
    # The bytes first: a one-byte INTEGER other than 3 there (a PKCS#8 or PKCS#1 key's version 0, the key store's
    # case) settles it without asn1crypto, whose parse costs more than loading the key itself.
    start = 2 + (data[1] & 0x7F if data[1] > 0x80 else 0)
    if data[start:start + 2] == b"\x02\x01" and data[start + 2:start + 3] != b"\x03":
        return False
    try:
        from asn1crypto import pkcs12 as a_p12

        return a_p12.Pfx.load(data)["version"].native in (3, "v3")
    except Exception:
        return False


def load_pkcs12(
    data: bytes, password: Password | None
) -> tuple[PrivateKey, x509.Certificate | None, list[x509.Certificate]]:
    """Key, certificate and the other certificates of a PKCS#12 file. Without a password, OpenSSL tries both no
    password and the empty one; a file protected by another raises PasswordNeededError, not a wrong password."""
    secret = password_bytes(password)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
    except ValueError as exc:
        text = str(exc).lower()
        if "password" in text or "mac" in text or "decrypt" in text:
            if secret is None:
                raise PasswordNeededError("the PKCS#12 file is protected: it needs a password") from None
            raise WrongPasswordError("the PKCS#12 password is wrong") from None
        raise PrivateKeyError(f"the PKCS#12 file cannot be read: {exc}") from None
    except Exception as exc:
        raise PrivateKeyError(f"the PKCS#12 file cannot be read: {exc}") from None
    if key is None:
        raise PrivateKeyError("the PKCS#12 file holds no private key")
    if not isinstance(key, PrivateKey):
        raise PrivateKeyError(f"unsupported private key type {type(key).__name__}")
    return key, cert, list(extra)


def load_private_key(data: bytes, password: Password | None = None) -> PrivateKey:
    """Load a private key from PEM (PKCS#8, PKCS#1, SEC1; encrypted or not), DER, or PKCS#12."""
    password = password_bytes(password)
    data = pkcs12_from_pem(data)
    if looks_like_pkcs12(data):
        return load_pkcs12(data, password)[0]
    blocks = [m for m in _PEM_BLOCK.finditer(data) if m.group(1) in _KEY_LABELS]
    if password is None:
        from .pqkeys import pq_private_key

        # RFC 9881/9935 keys: pyca reads only the seed form; the 'both' form is read (and checked) there.
        pq = pq_private_key(blocks[0].group(0) if blocks else data)
        if pq is not None:
            return pq
    try:
        # OpenSSL's full RSA key check tests p and q for primality: 40 ms per load, more than a whole small
        # message. consistent_rsa_key() below checks what keeps the arithmetic sound instead.
        if blocks:
            key = serialization.load_pem_private_key(blocks[0].group(0), password, unsafe_skip_rsa_key_validation=True)
        elif b"-----BEGIN" in data:
            raise PrivateKeyError("the file holds no private key (found only other PEM blocks, e.g. a certificate)")
        else:
            key = serialization.load_der_private_key(data, password, unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:
        if password is None:
            raise PasswordNeededError("the private key is encrypted: it needs a password") from exc
        raise PrivateKeyError("the private key is not encrypted but a password was given") from exc
    except ValueError as exc:
        if password is not None and blocks and b"ENCRYPTED" in blocks[0].group(1):
            raise WrongPasswordError("the private key password is wrong") from exc
        raise PrivateKeyError("the data is not a private key (PEM or DER PKCS#8/PKCS#1/SEC1)") from exc
    except PrivateKeyError:
        raise
    except Exception as exc:
        raise PrivateKeyError(f"the private key cannot be read: {exc}") from exc
    if not isinstance(key, PrivateKey):
        raise PrivateKeyError(f"unsupported private key type {type(key).__name__}")
    if isinstance(key, rsa.RSAPrivateKey) and not consistent_rsa_key(key):
        raise PrivateKeyError("the RSA private key is inconsistent (its parameters do not belong together)")
    return key


def consistent_rsa_key(key: rsa.RSAPrivateKey) -> bool:
    """n = pq with p, q odd, and the CRT parameters agree with d and e (so e*d = 1 mod p-1 and mod q-1).

    These keep every private operation well defined; OpenSSL moreover checks each CRT result against the public
    exponent and falls back to plain exponentiation with d, so a faulty key cannot leak its factors through a
    wrong signature. Primality is not tested (that is the slow part of OpenSSL's check and protects nothing more
    for the key's own holder).
    """
    nums = key.private_numbers()
    p, q, d, e = nums.p, nums.q, nums.d, nums.public_numbers.e
    return (
        p > 2 and q > 2 and p % 2 == 1 and q % 2 == 1 and p * q == nums.public_numbers.n
        and nums.dmp1 == d % (p - 1) and nums.dmq1 == d % (q - 1) and nums.iqmp * q % p == 1
        and e * nums.dmp1 % (p - 1) == 1 and e * nums.dmq1 % (q - 1) == 1
    )


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Load every certificate from PEM (certificates or PKCS7 blocks), DER, or a PKCS#7 certs-only bundle."""
    out: list[x509.Certificate] = []
    if b"-----BEGIN" in data:
        for m in _PEM_BLOCK.finditer(data):
            label = m.group(1)
            if label in (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"):
                try:
                    out.append(x509.load_pem_x509_certificate(m.group(0).replace(b"TRUSTED ", b"")))
                except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError (tests/fuzz)
                    raise CertificateError(f"a PEM certificate cannot be read: {exc}") from None
            elif label in (b"PKCS7", b"CMS"):
                import base64
                import binascii

                try:
                    der = base64.b64decode(b"".join(m.group(2).split()), validate=True)
                except binascii.Error:  # found by fuzzing (tests/fuzz): binascii's error escaped untyped
                    raise CertificateError("a PEM PKCS#7 block is not valid base64") from None
                out.extend(_certs_from_pkcs7(der))
        if not out:
            raise CertificateError("no certificate found in the PEM data")
        return out
    if not data:
        raise CertificateError("the certificate file is empty")
    try:
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, x509.InvalidVersion):
        pass
    certs = _certs_from_pkcs7(data)
    if not certs:
        raise CertificateError("the data is neither a certificate nor a PKCS#7 certificate bundle")
    return certs


def _certs_from_pkcs7(data: bytes) -> list[x509.Certificate]:
    try:
        from asn1crypto import cms as a_cms
        from asn1crypto import core as a_core

        info = a_cms.ContentInfo.load(data)
        if info["content_type"].native != "signed_data":
            raise CertificateError("the PKCS#7 data is not a SignedData certificate bundle")
        certs = info["content"]["certificates"]
        out = []
        # An absent set is a Void; `.native` would decode every certificate into dicts (seconds for a bundle of
        # thousands) only to be thrown away.
        for choice in [] if isinstance(certs, a_core.Void) else certs:
            if choice.name == "certificate":
                out.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        return out
    except CertificateError:
        raise
    except Exception:
        raise CertificateError("the data is neither a certificate nor a PKCS#7 certificate bundle") from None



def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER in lower-case hex without separators: the name mailseal files a
    certificate under everywhere (trust lists, directory, key store, JSON reports)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def dedupe(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[str] = set()
    out = []
    for c in certs:
        fp = fingerprint(c)
        if fp not in seen:
            seen.add(fp)
            out.append(c)
    return out


__all__ = [
    "Identity",
    "Password",
    "PrivateKey",
    "PublicKey",
    "dedupe",
    "fingerprint",
    "load_certificates",
    "load_pkcs12",
    "load_private_key",
    "looks_like_pkcs12",
    "password_bytes",
]

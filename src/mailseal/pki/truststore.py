"""Trust anchors and intermediates, loaded from PEM, DER, PKCS#7 certs-only, PKCS#12, Microsoft SST or the system.

The format of a file is told by its content, never by its extension: the serialized-store header
(``00 00 00 00 CERT``, see ``mailseal.pki.sst``), PEM armour, a PKCS#12 PFX (RFC 7292 §4: a SEQUENCE opening with
INTEGER 3), else DER: one certificate or a PKCS#7 SignedData certs-only bundle (RFC 5652 §5, DER or
indefinite-length BER).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from ..cms.identity import Password, dedupe, load_certificates, looks_like_pkcs12, password_bytes, pkcs12_from_pem
from ..errors import CertificateError, PasswordNeededError, WrongPasswordError
from .sst import looks_like_sst, read_sst

SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----")

CertificateFormat = Literal["sst", "pem", "pkcs12", "der"]


def detect_format(data: bytes) -> CertificateFormat:
    """Which loader reads `data`: ``sst``, ``pem``, ``pkcs12`` or ``der`` (one certificate or PKCS#7)."""
    if looks_like_sst(data) or data[4:8] == b"CERT":
        return "sst"
    unarmoured = pkcs12_from_pem(data)
    if looks_like_pkcs12(unarmoured):
        return "pkcs12"
    if b"-----BEGIN" in data:
        return "pem"
    return "der"


def _first_line(exc: Exception | None) -> str:
    lines = str(exc).splitlines() if exc is not None else []
    return lines[0] if lines else type(exc).__name__


def _pkcs12_certificates(data: bytes, password: Password | None) -> list[x509.Certificate]:
    password = password_bytes(password)
    # A certificates-only PKCS#12 often has no password at all, or the empty one: without a password, try both.
    attempts = [password] if password is not None else [None, b""]
    failure: Exception | None = None
    for attempt in attempts:
        try:
            bundle = pkcs12.load_pkcs12(data, attempt)
        except ValueError as exc:
            failure = exc
            continue
        except Exception as exc:  # e.g. an algorithm this OpenSSL build refuses (RC2-40 in very old files)
            raise CertificateError(f"the PKCS#12 file cannot be read: {_first_line(exc)}") from None
        certs = [c.certificate for c in ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)]
        if not certs:
            raise CertificateError("the PKCS#12 file holds no certificate")
        return certs
    text = str(failure).lower()
    if "password" in text or "mac" in text or "decrypt" in text:
        if password is None:
            raise PasswordNeededError("the PKCS#12 file is protected: it needs a password") from None
        raise WrongPasswordError("the PKCS#12 password is wrong") from None
    raise CertificateError(f"the PKCS#12 file cannot be read: {_first_line(failure)}") from None


def read_certificates(data: bytes, *, password: Password | None = None) -> list[x509.Certificate]:
    """Every certificate in `data`, whatever its format (see `detect_format`); never an empty list.

    `password` is used only for PKCS#12. Raises CertificateError (or WrongPasswordError) with a sentence.
    """
    if not data.strip():
        raise CertificateError("the certificate file is empty")
    kind = detect_format(data)
    if kind == "sst":
        certs = read_sst(data)
    elif kind == "pkcs12":
        certs = _pkcs12_certificates(pkcs12_from_pem(data), password)
    elif kind == "pem":
        certs = load_certificates(data)
    else:
        try:
            certs = load_certificates(data)
        except CertificateError:
            raise CertificateError(
                "not a certificate file: neither PEM, a DER certificate, PKCS#7 certs-only, PKCS#12 nor a"
                " serialized certificate store (.sst)"
            ) from None
    if not certs:
        raise CertificateError("the file holds no certificate")
    return certs


def read_certificate_file(path: str | Path, *, password: Password | None = None) -> list[x509.Certificate]:
    """`read_certificates` on a file; errors name the file."""
    data = Path(path).read_bytes()
    try:
        return read_certificates(data, password=password)
    except CertificateError as exc:
        raise CertificateError(f"{path}: {exc.message}", code=exc.code) from None


def _lenient_bundle(data: bytes) -> list[x509.Certificate]:
    # A system bundle is the operating system's, not the user's: one certificate that cryptography refuses (or
    # warns about, such as a root with a negative serial number) must not make the whole system store unusable.
    certs: list[x509.Certificate] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for block in _PEM_CERT.finditer(data):
            try:
                certs.append(x509.load_pem_x509_certificate(block.group(0)))
            except (ValueError, x509.InvalidVersion):
                continue
    return certs


@dataclass(frozen=True)
class TrustStore:
    """Anchors (trusted roots) and intermediates that help build paths but are not trusted themselves."""

    anchors: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = field(default_factory=tuple)

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | Path],
        intermediates: Iterable[str | Path] = (),
        *,
        password: Password | None = None,
    ) -> TrustStore:
        """Anchors from `paths`, intermediates from `intermediates`: any format `read_certificates` knows."""
        anchors: list[x509.Certificate] = []
        for p in paths:
            anchors.extend(read_certificate_file(p, password=password))
        inter: list[x509.Certificate] = []
        for p in intermediates:
            inter.extend(read_certificate_file(p, password=password))
        return cls(tuple(dedupe(anchors)), tuple(dedupe(inter)))

    @classmethod
    def system(cls) -> TrustStore:
        """The operating system's bundle ($SSL_CERT_FILE first), or certifi's when the system has none."""
        for candidate in (os.environ.get("SSL_CERT_FILE"), *SYSTEM_BUNDLES):
            if candidate and Path(candidate).is_file():
                return cls._bundle(Path(candidate))
        import certifi

        return cls._bundle(Path(certifi.where()))

    @classmethod
    def _bundle(cls, path: Path) -> TrustStore:
        certs = _lenient_bundle(path.read_bytes())
        # Not a PEM bundle at all (e.g. $SSL_CERT_FILE naming a DER file): the strict loaders say why.
        return cls(tuple(dedupe(certs or read_certificate_file(path))))

    def merged(self, other: TrustStore) -> TrustStore:
        return TrustStore(
            tuple(dedupe([*self.anchors, *other.anchors])),
            tuple(dedupe([*self.intermediates, *other.intermediates])),
        )


__all__ = [
    "CertificateFormat",
    "TrustStore",
    "detect_format",
    "read_certificate_file",
    "read_certificates",
]

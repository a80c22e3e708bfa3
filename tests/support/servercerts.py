"""TLS server certificates from the test PKI for SMTP peers: issued by the intermediate (chain leaf,
intermediate) or self-signed, with chosen names and dates; written as PEM files a server loads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.testpki import TestPKI


@dataclass
class ServerCert:
    cert: x509.Certificate
    chain: list[x509.Certificate]  # what the server sends: the leaf first
    cert_file: Path  # the leaf and the rest of the chain, PEM
    key_file: Path

    @property
    def chain_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.chain]


def server_cert(pki: TestPKI, directory: Path, names: list[str], *, issuer: str = "intermediate",
                days: tuple[int, int] = (-1, 30)) -> ServerCert:
    """A server certificate for names (subjectAltName dNSName); issuer "intermediate", "root" or "self"."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    if issuer == "self":
        issuer_name, issuer_key, parents = subject, key, []
    elif issuer == "root":
        issuer_name, issuer_key, parents = pki.root_cert.subject, pki.root_key, []
    else:
        issuer_name, issuer_key = pki.intermediate_cert.subject, pki.intermediate_key
        parents = [pki.intermediate_cert]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days[0])).not_valid_after(now + timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(issuer_key, hashes.SHA256()))  # type: ignore[arg-type]
    chain = [cert, *parents]
    stem = f"{names[0]}-{issuer}-{cert.serial_number % 100000}"
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ServerCert(cert, chain, cert_file, key_file)

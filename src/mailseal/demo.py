"""`make run` until the gateway exists: a demo CA and two users, sign + encrypt a message, open it, show the report."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import api
from .cli.render import render
from .cms.identity import Identity
from .pki.truststore import TrustStore


@dataclass(frozen=True)
class DemoOrg:
    root: x509.Certificate
    alice: Identity
    bob: Identity


def _name(cn: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailseal demo"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def _issue(
    subject_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    cn: str,
    email: str | None,
    now: datetime,
) -> x509.Certificate:
    subject = _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 if email else 3650))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
    )
    if email is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        is_rsa = isinstance(subject_key, rsa.RSAPrivateKey)
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, is_rsa, False, not is_rsa, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_demo_org(now: datetime | None = None) -> DemoOrg:
    """An organisation CA (RSA 3072) with alice (RSA 2048) and bob (ECDSA/ECDH P-256)."""
    now = now or datetime.now(UTC)
    ca_key = rsa.generate_private_key(65537, 3072)
    root = _issue(ca_key, ca_key, None, "mailseal demo CA", None, now)
    alice_key = rsa.generate_private_key(65537, 2048)
    bob_key = ec.generate_private_key(ec.SECP256R1())
    alice = Identity(alice_key, _issue(alice_key, ca_key, root.subject, "Alice", "alice@demo.example", now), (root,))
    bob = Identity(bob_key, _issue(bob_key, ca_key, root.subject, "Bob", "bob@demo.example", now), (root,))
    return DemoOrg(root, alice, bob)


def write_pem(path: Path, identity: Identity) -> None:
    key = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(key + identity.certificate.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o600)


DEMO_MESSAGE = (
    b"From: Alice <alice@demo.example>\r\n"
    b"To: Bob <bob@demo.example>\r\n"
    b"Subject: Quarterly figures\r\n"
    b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <demo-1@demo.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hi Bob,\r\n\r\nthe figures are attached in spirit. Gr\xc3\xbc\xc3\x9fe,\r\nAlice\r\n"
)


def main(argv: list[str] | None = None) -> int:
    home = Path(os.environ.get("MAILSEAL_HOME", "mailseal-data")) / "demo"
    home.mkdir(parents=True, exist_ok=True)
    org = make_demo_org()
    (home / "ca.pem").write_bytes(org.root.public_bytes(serialization.Encoding.PEM))
    write_pem(home / "alice.pem", org.alice)
    write_pem(home / "bob.pem", org.bob)
    signed = api.sign(DEMO_MESSAGE, org.alice)
    sealed = api.encrypt(signed, [org.bob.certificate], sender=org.alice)
    (home / "message.eml").write_bytes(DEMO_MESSAGE)
    (home / "sealed.eml").write_bytes(sealed)
    opened = api.open(sealed, [org.bob], trust=TrustStore((org.root,)))
    print(f"mailseal demo: files in {home}/ (ca.pem, alice.pem, bob.pem, message.eml, sealed.eml)")
    print("alice signed the message, then encrypted it to bob (and herself) with AES-256-GCM; bob opened it:\n")
    print(render(opened.report))
    print("\ninnermost content:\n")
    print(opened.message.decode("utf-8", "replace"))
    print("try it yourself:")
    print(f"  .venv/bin/mailseal open --key {home}/bob.pem --trust {home}/ca.pem -i {home}/sealed.eml")
    return 0 if opened.report.valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

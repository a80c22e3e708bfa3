"""Real messages for the verify page's tests: signed, tampered, expired, revoked, wrapped, encrypted, hostile.

Each case is built with mailseal's own sign/encrypt, verified or opened with the real verifier, and returned as
the Report with the message it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import mailseal
from mailseal.mime.report import Report
from mailseal.pki.authority import CertificateAuthority
from mailseal.pki.validation import ValidationContext
from tests.support.messages import MESSAGE, ident, message_from
from tests.support.testpki import TestPKI

PASS = b"correct horse"
RTL = "\u202eגדכ\u202c"  # right-to-left override around Hebrew letters
HOSTILE_CN = '<script>alert("x")</script> & \'q\''
HOSTILE_OU = "A&B <b>bold</b>\x07 " + RTL + " " + "very long " * 40


@dataclass(frozen=True)
class Case:
    message: bytes
    report: Report


def trust(pki: TestPKI) -> mailseal.TrustStore:
    return mailseal.TrustStore.from_files([pki.root_path])


def verified(message: bytes, pki: TestPKI, **kwargs: object) -> Case:
    return Case(message, mailseal.verify(message, trust=trust(pki), **kwargs))  # type: ignore[arg-type]


def ca_cases(directory: Path) -> tuple[Case, Case]:
    """(valid, revoked) signed by two users of an internal CA (CA/B Forum mailbox-validated strict), with the
    CA's CRL given to the verifier: revocation is established both times."""
    authority = CertificateAuthority.create("Report CA", PASS, directory=directory / "ca", key_type="p256")
    cases = []
    for who, revoke in (("ivy", False), ("rex", True)):
        issued = authority.issue(f"{who}@example.org", key_type="p256")
        identity = mailseal.Identity.from_pkcs12(authority.pkcs12(issued, b"pw"), b"pw")
        signed = mailseal.sign(message_from(f"{who}@example.org", b"hello from " + who.encode() + b"\r\n"), identity)
        if revoke:
            authority.revoke(issued.record.serial, "keyCompromise")
        crl = authority.crl().public_bytes(Encoding.DER)
        context = ValidationContext(trust=mailseal.TrustStore((authority.certificate,)), crls=(crl,))
        cases.append(Case(signed, mailseal.verify(signed, context)))
    return cases[0], cases[1]


def tampered(pki: TestPKI) -> Case:
    signed = mailseal.sign(MESSAGE, ident(pki.user("alice")))
    changed = signed.replace(b"this is a test.", b"this is a TEST!")
    assert changed != signed
    return verified(changed, pki)


def expired(pki: TestPKI) -> Case:
    now = datetime.now(UTC)
    user = pki.user("olda", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1),
                    email="alice@example.org")
    return verified(mailseal.sign(MESSAGE, ident(user)), pki)


def untrusted(pki: TestPKI) -> Case:
    """Verified against an anchor that did not issue the signer's chain: the issuer is unknown."""
    signed = mailseal.sign(MESSAGE, ident(pki.user("alice")))
    stranger = pki.user("eve", issuer="root")
    return Case(signed, mailseal.verify(signed, trust=mailseal.TrustStore((stranger.cert,))))


def mismatch(pki: TestPKI) -> Case:
    message = message_from("Boss <boss@example.org>", b"Please pay.\r\n")
    return verified(mailseal.sign(message, ident(pki.user("alice")), allow_from_mismatch=True), pki)


def wrapped(pki: TestPKI) -> Case:
    """A signed part attached inside an unsigned multipart/mixed: the text around it is nobody's."""
    part = mailseal.sign(message_from("alice@example.org", b"I owe Bob nothing.\r\n"), ident(pki.user("alice")))
    head, _, body = part.partition(b"\r\n\r\n")
    content_type = b"\r\n".join(ln for ln in head.split(b"\r\n") if not ln.lower().startswith((b"from:", b"to:",
                                                                                              b"subject:")))
    outer = (
        b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: wrapped\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer-b"\r\n\r\n'
        b"--outer-b\r\nContent-Type: text/plain\r\n\r\nI owe Mallory 1000 euros.\r\n"
        b"--outer-b\r\n" + content_type + b"\r\n\r\n" + body + b"\r\n--outer-b--\r\n"
    )
    return verified(outer, pki)


def encrypted(pki: TestPKI, cipher: str, *, signed: bool = False) -> Case:
    bob = pki.user("bob")
    inner = mailseal.sign(MESSAGE, ident(pki.user("alice"))) if signed else MESSAGE
    message = mailseal.encrypt(inner, [bob.cert], cipher=cipher)
    opened = mailseal.open(message, [ident(bob)], trust=trust(pki))
    return Case(message, opened.report)


def _certificate(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Certificate, issuer_key: rsa.RSAPrivateKey,
                 days: tuple[int, int], *, ca: bool = False, email: str | None = None) -> x509.Certificate:
    """A certificate valid from ``days[0]`` to ``days[1]`` days from now (negative: in the past)."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0])).not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        builder = (
            builder.add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                                  critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email or "x@example.org")]), critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256())


def hostile(pki: TestPKI) -> Case:
    """A signer whose subject holds markup, quotes, an ampersand, a right-to-left override and a long text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE_CN),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, HOSTILE_OU)])
    cert = _certificate(name, key, pki.intermediate_cert, pki.intermediate_key, (-1, 30),  # type: ignore[arg-type]
                        email="hostile@example.org")
    identity = mailseal.Identity(key, cert, (pki.intermediate_cert, pki.root_cert))
    message = message_from('"<img src=x onerror=alert(1)>" <mallory@example.org>', b"hi\r\n")
    return verified(mailseal.sign(message, identity, allow_from_mismatch=True), pki)


def expired_ca(pki: TestPKI) -> Case:
    """A signer certificate within its dates, issued by an intermediate that expired yesterday."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Expired Intermediate")])
    ca = _certificate(ca_name, ca_key, pki.root_cert, pki.root_key, (-400, -1), ca=True)  # type: ignore[arg-type]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")]), key, ca, ca_key, (-1, 30),
                        email="alice@example.org")
    return verified(mailseal.sign(MESSAGE, mailseal.Identity(key, leaf, (ca, pki.root_cert))), pki)


def not_for_email(pki: TestPKI) -> Case:
    user = pki.user("codesign", eku=[ExtendedKeyUsageOID.CODE_SIGNING], email="alice@example.org")
    return verified(mailseal.sign(MESSAGE, ident(user)), pki)


def hard_fail(pki: TestPKI) -> Case:
    """Revocation required (hard-fail) but no CRL or OCSP response to be had."""
    signed = mailseal.sign(MESSAGE, ident(pki.user("alice")))
    return Case(signed, mailseal.verify(signed, ValidationContext(trust=trust(pki), revocation_mode="hard-fail")))


def triple(pki: TestPKI) -> Case:
    """Signed, encrypted, signed again (RFC 2634 triple wrapping): two signed layers, each with a signer 1."""
    alice, bob = ident(pki.user("alice")), pki.user("bob")
    message = mailseal.sign(mailseal.encrypt(mailseal.sign(MESSAGE, alice), [bob.cert]), alice)
    return Case(message, mailseal.open(message, [ident(bob)], trust=trust(pki)).report)

"""Building hostile messages for the attack-class suite: the actors, signing and re-signing, MIME surgery.

Every message is made by the test from the generated test PKI; nothing hostile is committed. The actors:
alice@example.org (an honest sender), boss@corp.example (whom the attacker impersonates) and eve@evil.example
(the attacker, with a perfectly valid certificate of her own from the same CA).
"""

from __future__ import annotations

import base64
import re

from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import mailseal
from mailseal.mime import Entity
from mailseal.mime.signed import parse_multipart_signed
from tests.support.messages import ident
from tests.support.testpki import TestPKI, User


def alice(pki: TestPKI) -> User:
    return pki.user("alice")


def eve(pki: TestPKI) -> User:
    return pki.user("eve", email="eve@evil.example")


def boss(pki: TestPKI) -> User:
    return pki.user("boss", email="boss@corp.example")


def trust(pki: TestPKI) -> mailseal.TrustStore:
    return mailseal.TrustStore.from_files([pki.root_path])


def mail(sender: str, body: bytes = b"Please pay the invoice today.\r\n", *, subject: str = "invoice",
         extra: bytes = b"", to: str = "alice@example.org") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
            f"Message-ID: <attack@example.org>\r\nMIME-Version: 1.0\r\n").encode() + extra + b"\r\n" + body


def sign(message: bytes, user: User, **options: object) -> bytes:
    return mailseal.sign(message, ident(user), **options)  # type: ignore[arg-type]


def verify(message: bytes, pki: TestPKI) -> mailseal.Report:
    return mailseal.verify(message, trust=trust(pki))


def set_field(message: bytes, name: bytes, value: bytes) -> bytes:
    """The message with the first outer ``name`` field replaced (outer fields are outside any signature)."""
    head, sep, body = message.partition(b"\r\n\r\n")
    pattern = re.compile(rb"(?im)^" + re.escape(name) + rb":[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")
    assert pattern.search(head), f"no {name!r} field"
    return pattern.sub(name + b": " + value, head, count=1) + sep + body


def signature_der(signed: bytes) -> bytes:
    return parse_multipart_signed(Entity.parse(signed)).signature


def resign(info: cms.ContentInfo, user: User, index: int = 0) -> bytes:
    """The SignedData with signer ``index``'s signature made again over its (edited) signed attributes by
    ``user``'s RSA key: the only flaw left is the one the test put in."""
    signer = info["content"]["signer_infos"][index]
    attrs = signer["signed_attrs"]
    attrs_der = attrs.untag().dump(force=True)
    key = user.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signer["signature"] = key.sign(attrs_der, padding.PKCS1v15(), hashes.SHA256())
    return info.dump(force=True)


def pkcs7_mime(der: bytes, smime_type: str, headers: bytes) -> bytes:
    """An application/pkcs7-mime message around ``der`` with the given outer fields."""
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (headers + b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=" + smime_type.encode()
            + b'; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + body)


def opaque_signed_data(content: bytes, user: User) -> cms.ContentInfo:
    """A SignedData with encapsulated content, parsed for editing."""
    from mailseal.cms import sign_data

    return cms.ContentInfo.load(sign_data(content, ident(user), detached=False))


def headers_of(sender: str, subject: str = "invoice") -> bytes:
    return f"From: {sender}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n".encode()

"""Messages for the verify page's tests, built with the test PKI and mailseal itself: valid, tampered, a signed part
wrapped in unsigned text, encrypted, hostile HTML, garbage; and the console's trust list holding the test root."""

from __future__ import annotations

from dataclasses import dataclass

import mailseal
from mailseal.store.database import Store
from mailseal.store.trust import StoredTrust
from tests.support.messages import MESSAGE, ident, message_from
from tests.support.testpki import TestPKI

REMOTE = "http://tracker.example/pixel.png"
HTML_MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Newsletter\r\n"
    b"Message-ID: <html1@example.org>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="alt-b"\r\n\r\n'
    b"--alt-b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n"
    b"--alt-b\r\nContent-Type: text/html\r\n\r\n"
    b'<html><body><p id="html-body">rendered words</p><img src="' + REMOTE.encode() + b'">'
    b"<script>document.title='pwned'</script></body></html>\r\n"
    b"--alt-b--\r\n"
)
GARBAGE = (b"", b"   \r\n", b"\x30\x82\x01\x00garbage that looks like DER",
           b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n"
           b"--b\r\n\r\nhi\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nAAAAnotcms\r\n--b--\r\n")


@dataclass(frozen=True)
class Messages:
    valid: bytes
    tampered: bytes
    wrapped: bytes
    encrypted: bytes
    html: bytes


def trust_test_root(store: Store, pki: TestPKI) -> None:
    StoredTrust(store).add([pki.root_cert], actor="test")  # type: ignore[list-item]


def messages(pki: TestPKI) -> Messages:
    alice = ident(pki.user("alice"))
    valid = mailseal.sign(MESSAGE, alice)
    tampered = valid.replace(b"this is a test.", b"this is a TEST!")
    assert tampered != valid
    part = mailseal.sign(message_from("alice@example.org", b"I owe Bob nothing.\r\n"), alice)
    head, _, body = part.partition(b"\r\n\r\n")
    content_type = b"\r\n".join(ln for ln in head.split(b"\r\n")
                                if not ln.lower().startswith((b"from:", b"to:", b"subject:")))
    wrapped = (
        b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: wrapped\r\nMessage-ID: <wrapped@example.org>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="outer-b"\r\n\r\n'
        b"--outer-b\r\nContent-Type: text/plain\r\n\r\nI owe Mallory 1000 euros.\r\n"
        b"--outer-b\r\n" + content_type + b"\r\n\r\n" + body + b"\r\n--outer-b--\r\n"
    )
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert])
    return Messages(valid, tampered, wrapped, encrypted, mailseal.sign(HTML_MESSAGE, alice))

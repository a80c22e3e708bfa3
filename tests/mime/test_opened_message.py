"""What the library's decrypt and open give back is a complete message: one MIME-Version (RFC 2045 §4), the
outer fields once, the inner entity's Content-* fields (issue 12, point 1)."""

from __future__ import annotations

import base64
import io
import re
import tempfile

import pytest

import mailseal
from mailseal.cms import envelope_data
from tests.support.opened import KINDS, WRAPPINGS, assert_complete, build, header_fields, identity
from tests.support.testpki import TestPKI, User


def _users(pki: TestPKI) -> tuple[User, User]:
    return pki.user("alice"), pki.user("bob")


@pytest.mark.parametrize("wrapping", list(WRAPPINGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_opened_message_is_complete(pki: TestPKI, kind: str, wrapping: str) -> None:
    alice, bob = _users(pki)
    original = build(kind, alice.email, bob.email)
    sealed = WRAPPINGS[wrapping](original, alice, bob)
    opened = mailseal.open(sealed, [identity(bob)], trust=None)
    assert opened.report.encrypted
    assert_complete(opened.message, KINDS[kind], original)
    out = io.BytesIO()
    opened.write_message(out)
    assert out.getvalue() == opened.message


@pytest.mark.parametrize("kind", list(KINDS))
def test_decrypted_message_is_complete(pki: TestPKI, kind: str) -> None:
    alice, bob = _users(pki)
    original = build(kind, alice.email, bob.email)
    sealed = mailseal.encrypt(original, [bob.cert])
    plain = mailseal.decrypt(sealed, identity(bob))
    assert_complete(plain, KINDS[kind], original)


@pytest.mark.parametrize("staging", [False, True], ids=["file", "staging-file"])
def test_decrypt_into_a_file_writes_the_same_complete_message(pki: TestPKI, staging: bool) -> None:
    """The CLI's -o stages the plaintext straight into its temporary file: the merged header is the same."""
    alice, bob = _users(pki)
    original = build("mixed", alice.email, bob.email)
    sealed = mailseal.encrypt(original, [bob.cert])
    with tempfile.TemporaryFile() as out:
        mailseal.decrypt(sealed, identity(bob), out=out, out_is_staging=staging)
        out.seek(0)
        written = out.read()
    assert written == mailseal.decrypt(sealed, identity(bob))
    assert_complete(written, "multipart/mixed", original)


@pytest.mark.parametrize("opaque", [True, False], ids=["opaque", "clear"])
def test_decrypting_signed_in_encrypted_gives_a_verifiable_signed_message(pki: TestPKI, opaque: bool) -> None:
    """decrypt removes one layer: the signed layer's Content-Type replaces the enveloped one, MIME-Version once."""
    alice, bob = _users(pki)
    original = build("html", alice.email, bob.email)
    sealed = mailseal.encrypt(mailseal.sign(original, identity(alice), opaque=opaque), [bob.cert])
    plain = mailseal.decrypt(sealed, identity(bob))
    fields = header_fields(plain)
    names = [name for name, _ in fields]
    assert names.count("mime-version") == 1
    [ctype] = [value for name, value in fields if name == "content-type"]
    if opaque:
        assert "smime-type=signed-data" in ctype and "enveloped" not in ctype
    else:
        assert ctype.startswith("multipart/signed")
    report = mailseal.verify(plain, trust=mailseal.TrustStore(anchors=(pki.root_cert,)))
    assert report.status == "valid"
    assert_complete(mailseal.open(plain).message, "text/html", original)


@pytest.mark.parametrize("opaque", [True, False], ids=["opaque", "clear"])
def test_opened_signed_message_is_complete(pki: TestPKI, opaque: bool) -> None:
    alice, bob = _users(pki)
    original = build("mixed", alice.email, bob.email)
    signed = mailseal.sign(original, identity(alice), opaque=opaque)
    assert_complete(mailseal.open(signed).message, "multipart/mixed", original)


def test_inner_mime_version_is_kept_once(pki: TestPKI) -> None:
    """Content encrypted by another client may carry its own MIME-Version: that one is the message's, once."""
    bob = pki.user("bob")
    content = (b"MIME-Version: 1.0 (another client)\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
               b"<p>The figures.</p>\r\n")
    sealed = (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n"
              b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <inner@example.org>\r\n"
              b"MIME-Version: 1.0\r\n"
              b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n"
              + base64.encodebytes(envelope_data(content, [bob.cert], cipher="aes256-cbc")))
    plain = mailseal.decrypt(sealed, identity(bob))
    assert (b"MIME-Version: 1.0 (another client)\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
            in plain)
    assert [name for name, _ in header_fields(plain)].count("mime-version") == 1
    assert_complete(plain, "text/html")


def test_lf_only_signed_message_opens_with_lf_line_ends(pki: TestPKI) -> None:
    """A file saved with LF line ends opens into LF line ends throughout, not a CRLF header over an LF body."""
    alice, bob = _users(pki)
    original = build("text", alice.email, bob.email)
    signed_lf = mailseal.sign(original, identity(alice)).replace(b"\r\n", b"\n")
    message = mailseal.open(signed_lf).message
    assert b"\r" not in message
    assert_complete(message, "text/plain")
    crlf = mailseal.open(mailseal.sign(original, identity(alice))).message
    assert re.search(rb"(?<!\r)\n", crlf) is None

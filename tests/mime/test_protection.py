"""RFC 9788 header protection when writing, and reading it back (mailseal.sign/encrypt ``protect_headers``)."""

from __future__ import annotations

import io
import re

import pytest

import mailseal
from mailseal.errors import UsageError
from mailseal.mime import Entity
from mailseal.mime.protection import with_hp
from tests.mime.protection_helpers import BCC, MESSAGE, PROTECTED, header_block, parse, signed_part
from tests.support.messages import ident
from tests.support.testpki import TestPKI


def trust(pki: TestPKI) -> mailseal.TrustStore:
    return mailseal.TrustStore.from_files([pki.root_path])


def alice(pki: TestPKI) -> mailseal.Identity:
    return ident(pki.user("alice"))


def bob(pki: TestPKI) -> mailseal.Identity:
    return ident(pki.user("bob"))


# -- signing (hp="clear") ----------------------------------------------------------------------------------


def test_sign_protect_headers_marks_payload_hp_clear(pki: TestPKI) -> None:
    part = parse(signed_part(mailseal.sign(MESSAGE, alice(pki), protect_headers=True)))
    assert part.get_content_type() == "text/plain"
    assert part.get_param("hp") == "clear"


def test_sign_protect_headers_copies_every_protected_field(pki: TestPKI) -> None:
    part = parse(signed_part(mailseal.sign(MESSAGE, alice(pki), protect_headers=True)))
    for name, value in PROTECTED.items():
        assert part.get_all(name) == [value], name


def test_sign_protect_headers_never_copies_bcc(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), protect_headers=True)
    assert parse(signed_part(signed)).get("Bcc") is None
    assert BCC.encode() not in signed


def test_sign_protect_headers_has_no_hp_outer_and_keeps_outer_subject(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), protect_headers=True)
    assert b"HP-Outer" not in signed, "HP-Outer belongs to encrypted payloads only (RFC 9788 §2.2)"
    assert b"Subject: The Jones contract" in header_block(signed)


def test_sign_protect_headers_leaves_unlisted_fields_outside(pki: TestPKI) -> None:
    part = parse(signed_part(mailseal.sign(MESSAGE, alice(pki), protect_headers=True)))
    assert part.get("X-Mailer") is None


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_sign_protect_headers_verifies(pki: TestPKI, opaque: bool) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), opaque=opaque, protect_headers=True)
    report = mailseal.verify(signed, trust=trust(pki))
    assert report.status == "valid", report.to_dict()


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_open_signed_protected_shows_inner_fields_once(pki: TestPKI, opaque: bool) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), opaque=opaque, protect_headers=True)
    opened = mailseal.open(signed, trust=trust(pki))
    shown = parse(opened.message)
    assert shown.get_all("Subject") == [PROTECTED["Subject"]]
    assert shown.get_all("From") == [PROTECTED["From"]]
    assert shown.get_param("hp") == "clear"


def test_sign_protect_headers_streams_to_out(pki: TestPKI) -> None:
    out = io.BytesIO()
    assert mailseal.sign(io.BytesIO(MESSAGE), alice(pki), protect_headers=True, out=out) is None
    assert mailseal.verify(out.getvalue(), trust=trust(pki)).status == "valid"
    assert b'hp="clear"' in out.getvalue()


def test_sign_protect_headers_signed_bytes_are_canonical(pki: TestPKI) -> None:
    lf_message = MESSAGE.replace(b"\r\n", b"\n")
    part = signed_part(mailseal.sign(lf_message, alice(pki), protect_headers=True))
    assert b"\n" not in part.replace(b"\r\n", b""), "every line end in the signed part is CRLF"
    assert part.isascii()


def test_sign_protect_headers_encodes_utf8_subject_as_7bit(pki: TestPKI) -> None:
    message = MESSAGE.replace(b"Subject: The Jones contract", "Subject: Grüße aus Köln".encode())
    signed = mailseal.sign(message, alice(pki), protect_headers=True)
    part = signed_part(signed)
    assert part.isascii(), "signed content stays 7-bit (RFC 8551 §3.1.2)"
    assert str(parse(part).get("Subject")).startswith("=?utf-8?")
    assert mailseal.verify(signed, trust=trust(pki)).status == "valid"


def test_sign_protect_headers_gives_entity_without_content_type_one(pki: TestPKI) -> None:
    message = b"From: Alice <alice@example.org>\r\nSubject: bare\r\n\r\nHello.\r\n"
    part = parse(signed_part(mailseal.sign(message, alice(pki), protect_headers=True)))
    assert part.get_content_type() == "text/plain" and part.get_param("hp") == "clear"
    assert part.get("Subject") == "bare"


def test_sign_protect_headers_multipart_payload(pki: TestPKI) -> None:
    message = (
        b"From: Alice <alice@example.org>\r\nSubject: with attachment\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nText.\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
        b"--b1--\r\n"
    )
    signed = mailseal.sign(message, alice(pki), protect_headers=True)
    part = parse(signed_part(signed))
    assert part.get_content_type() == "multipart/mixed"
    assert part.get_param("hp") == "clear" and part.get_param("boundary") == "b1"
    assert len(part.get_payload()) == 2
    assert mailseal.verify(signed, trust=trust(pki)).status == "valid"


def test_sign_defaults_unchanged_no_hp(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki))
    part = parse(signed_part(signed))
    assert part.get_param("hp") is None and part.get("Subject") is None


def test_with_hp_replaces_an_existing_parameter() -> None:
    line = with_hp(b'Content-Type: text/plain; hp="clear";', "cipher")
    assert line == b'Content-Type: text/plain; hp="cipher"'


# -- encryption (hp="cipher", hcp_baseline) ----------------------------------------------------------------


def decrypted_entity(pki: TestPKI, encrypted: bytes) -> Entity:
    return mailseal.open(encrypted, [bob(pki)]).inner


def test_encrypt_protect_headers_obscures_outer_subject(pki: TestPKI) -> None:
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert], protect_headers=True)
    outer = parse(encrypted)
    assert outer.get_all("Subject") == ["[...]"]
    assert b"Jones" not in encrypted
    assert outer.get("From") == PROTECTED["From"], "hcp_baseline obscures the Subject only"


def test_encrypt_protect_headers_marks_payload_hp_cipher(pki: TestPKI) -> None:
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert], protect_headers=True)
    inner = decrypted_entity(pki, encrypted)
    assert inner.content_type() == ("text/plain", {"charset": "us-ascii", "hp": "cipher"})
    for name, value in PROTECTED.items():
        assert inner.fields(name) == [value], name
    assert inner.fields("Bcc") == []


def test_encrypt_protect_headers_records_hp_outer(pki: TestPKI) -> None:
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert], protect_headers=True)
    hp_outer = decrypted_entity(pki, encrypted).fields("HP-Outer")
    assert "Subject: [...]" in hp_outer
    assert f"From: {PROTECTED['From']}" in hp_outer
    assert not any(v.lower().startswith("bcc") for v in hp_outer)
    assert not any(v.lower().startswith("x-mailer") for v in hp_outer), "only protected fields are recorded"


def test_open_encrypted_protected_shows_real_subject_without_hp_outer(pki: TestPKI) -> None:
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert], protect_headers=True)
    opened = mailseal.open(encrypted, [bob(pki)])
    shown = parse(opened.message)
    assert shown.get_all("Subject") == [PROTECTED["Subject"]]
    assert shown.get("HP-Outer") is None
    assert shown.get("X-Mailer") == "mailseal tests", "unprotected outer fields are still shown"
    assert b"HP-Outer" in opened.entity, "the entity itself is left as decrypted"


def test_decrypt_protected_shows_real_subject(pki: TestPKI) -> None:
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert], protect_headers=True)
    shown = parse(mailseal.decrypt(encrypted, bob(pki)))
    assert shown.get_all("Subject") == [PROTECTED["Subject"]] and shown.get("HP-Outer") is None


def test_encrypt_defaults_unchanged(pki: TestPKI) -> None:
    encrypted = mailseal.encrypt(MESSAGE, [pki.user("bob").cert])
    assert parse(encrypted).get("Subject") == PROTECTED["Subject"]
    inner = decrypted_entity(pki, encrypted)
    assert "hp" not in inner.content_type()[1] and inner.fields("HP-Outer") == []


# -- signed, then encrypted --------------------------------------------------------------------------------


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_sign_then_encrypt_protected_by_signed_layer(pki: TestPKI, opaque: bool) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), opaque=opaque, protect_headers=True)
    encrypted = mailseal.encrypt(signed, [pki.user("bob").cert], protect_headers=True)
    assert parse(encrypted).get_all("Subject") == ["[...]"] and b"Jones" not in encrypted
    opened = mailseal.open(encrypted, [bob(pki)], trust=trust(pki))
    assert opened.report.status == "valid", opened.report.to_dict()
    assert parse(opened.message).get_all("Subject") == [PROTECTED["Subject"]]
    # The encryption layer's payload root is the signed message itself, not a second copy of the fields.
    decrypted = Entity.parse(mailseal.decrypt(encrypted, bob(pki)))
    assert decrypted.content_type()[0] in ("multipart/signed", "application/pkcs7-mime")
    assert not re.search(rb"(?im)^hp-outer:", decrypted.header_bytes())


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_sign_to_be_encrypted_marks_the_signed_layer_hp_cipher(pki: TestPKI, opaque: bool) -> None:
    """RFC 9788: the cryptographic payload of a signed-and-encrypted message says hp="cipher" and records the
    outer fields in HP-Outer; the signer has to know, since the signed bytes cannot change afterwards."""
    signed = mailseal.sign(MESSAGE, alice(pki), opaque=opaque, protect_headers=True, to_be_encrypted=True)
    assert parse(signed).get_all("Subject") == ["[...]"]
    payload = Entity.parse(signed_part(signed)) if not opaque else None
    if payload is not None:
        assert payload.content_type()[1]["hp"] == "cipher"
        assert payload.fields("HP-Outer") and "Subject: [...]" in payload.fields("HP-Outer")
        assert payload.field("Subject") == PROTECTED["Subject"]
    encrypted = mailseal.encrypt(signed, [pki.user("bob").cert], protect_headers=True)
    assert parse(encrypted).get_all("Subject") == ["[...]"] and b"Jones" not in encrypted
    opened = mailseal.open(encrypted, [bob(pki)], trust=trust(pki))
    assert opened.report.status == "valid", opened.report.to_dict()
    shown = parse(opened.message)
    assert shown.get_all("Subject") == [PROTECTED["Subject"]] and not shown.get_all("HP-Outer")


def test_encrypt_protect_headers_refuses_unprotected_signed_message(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki))
    with pytest.raises(UsageError):
        mailseal.encrypt(signed, [pki.user("bob").cert], protect_headers=True)


# -- SMIMECapabilities -------------------------------------------------------------------------------------


def test_capabilities_included_by_default(pki: TestPKI) -> None:
    signer = mailseal.verify(mailseal.sign(MESSAGE, alice(pki)), trust=trust(pki)).signers[0]
    assert signer.capabilities


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_include_capabilities_false_omits_attribute(pki: TestPKI, opaque: bool) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), opaque=opaque, include_capabilities=False)
    signer = mailseal.verify(signed, trust=trust(pki)).signers[0]
    assert signer.status == "valid" and signer.capabilities == ()


def test_plan_signature_capabilities_false_leaves_out_the_oid(pki: TestPKI) -> None:
    from asn1crypto import cms

    from mailseal.cms import sign_data

    der = sign_data(b"content", alice(pki), capabilities=False)
    attrs = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signed_attrs"]
    names = [a["type"].native for a in attrs]
    assert "smime_capabilities" not in names and "message_digest" in names
    der = sign_data(b"content", alice(pki))
    assert "smime_capabilities" in [a["type"].native for a in cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signed_attrs"]]


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_sign_protect_headers_8bit_body_becomes_quoted_printable(pki: TestPKI, opaque: bool) -> None:
    message = MESSAGE.replace(b"charset=us-ascii", b"charset=utf-8").replace(b"Hello Bob,", "Grüße Bob,".encode())
    signed = mailseal.sign(message, alice(pki), opaque=opaque, protect_headers=True)
    opened = mailseal.open(signed, trust=trust(pki))
    assert opened.report.status == "valid", opened.report.to_dict()
    assert opened.inner.transfer_encoding() == "quoted-printable"
    assert opened.inner.content_type()[1]["hp"] == "clear"
    assert opened.inner.fields("Subject") == [PROTECTED["Subject"]]


def test_encrypt_protect_headers_refuses_unprotected_opaque_signed_message(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), opaque=True)
    with pytest.raises(UsageError):
        mailseal.encrypt(signed, [pki.user("bob").cert], protect_headers=True)

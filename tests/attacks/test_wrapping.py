"""Attack class MIME wrapping (Johnny You Are Fired §4.3): alice's genuinely signed message placed inside one
the attacker writes, so that a reader shows attacker text next to alice's valid signature.

A signature protects the message only when it is at the root (or directly inside the root's encryption):
mailseal reports each wrapped case as not signed, lists the signed part as a nested part, and its gateway stamps
``smime=none``. A naive verifier searches the message for any signature that verifies and shows "signed by alice".
"""

from __future__ import annotations

import re

import pytest

import mailseal
from mailseal.errors import MalformedMIMEError
from mailseal.mime.opening import open_message
from tests.attacks.support import alice, mail, sign, trust, verify
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

ATTACKER = b"Pay 50,000 EUR to IBAN DE00 EVIL 0000 today. -- alice\r\n"


def _signed_entity(pki: TestPKI) -> bytes:
    """alice's signed message with its outer fields removed: a multipart/signed entity to embed."""
    signed = sign(mail("alice@example.org", b"Lunch at noon?\r\n"), alice(pki))
    head, _, body = signed.partition(b"\r\n\r\n")
    fields = head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ").split(b"\r\n")
    content = [f for f in fields if f.lower().startswith(b"content-")]
    return b"\r\n".join(content) + b"\r\n\r\n" + body


def _outer(content_type: bytes, body: bytes) -> bytes:
    return (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: payment\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: " + content_type + b"\r\n\r\n" + body)


def after_attacker_text(pki: TestPKI) -> bytes:
    """multipart/mixed: the attacker's text first, alice's signed part after it."""
    return _outer(b'multipart/mixed; boundary="w"',
                  b"--w\r\nContent-Type: text/plain\r\n\r\n" + ATTACKER + b"--w\r\n" + _signed_entity(pki)
                  + b"\r\n--w--\r\n")


def hidden_by_css(pki: TestPKI) -> bytes:
    """multipart/related: an HTML root with the attacker's text, alice's signed part after it, hidden by CSS in
    clients that render every part (``display:none`` around the place it would show)."""
    html = (b"<html><body><p>" + ATTACKER.strip() + b"</p><div style=\"display:none\">"
            b"</div></body></html>\r\n")
    return _outer(b'multipart/related; boundary="w"; type="text/html"',
                  b"--w\r\nContent-Type: text/html\r\n\r\n" + html + b"--w\r\n" + _signed_entity(pki)
                  + b"\r\n--w--\r\n")


def referenced_by_cid(pki: TestPKI) -> bytes:
    """multipart/related: the HTML root shows the attacker's text and pulls the signed part in by ``cid:``."""
    html = b'<html><body><p>' + ATTACKER.strip() + b'</p><iframe src="cid:signed@x"></iframe></body></html>\r\n'
    entity = _signed_entity(pki).replace(b"Content-Type:", b"Content-ID: <signed@x>\r\nContent-Type:", 1)
    return _outer(b'multipart/related; boundary="w"; type="text/html"',
                  b"--w\r\nContent-Type: text/html\r\n\r\n" + html + b"--w\r\n" + entity + b"\r\n--w--\r\n")


def as_attachment(pki: TestPKI) -> bytes:
    """The attacker's text, and alice's whole signed message attached (message/rfc822)."""
    attached = sign(mail("alice@example.org", b"Lunch at noon?\r\n"), alice(pki))
    return _outer(b'multipart/mixed; boundary="w"',
                  b"--w\r\nContent-Type: text/plain\r\n\r\n" + ATTACKER + b"--w\r\nContent-Type: message/rfc822\r\n"
                  b"Content-Disposition: attachment; filename=\"signed.eml\"\r\n\r\n" + attached + b"\r\n--w--\r\n")


def inside_signed_content(pki: TestPKI) -> bytes:
    """Eve signs (validly, as herself) a message that embeds alice's signed part: the outer signature is eve's,
    never alice's."""
    from tests.attacks.support import eve

    inner = after_attacker_text(pki).split(b"\r\n\r\n", 1)[1]
    wrapper = mail("eve@evil.example", inner, extra=b'Content-Type: multipart/mixed; boundary="w"\r\n')
    return sign(wrapper, eve(pki))


CASES = {
    "after-attacker-text": after_attacker_text,
    "hidden-by-css": hidden_by_css,
    "referenced-by-cid": referenced_by_cid,
    "as-attachment": as_attachment,
}


@pytest.mark.parametrize("case", list(CASES))
def test_wrapped_signature_does_not_sign_the_message(pki: TestPKI, case: str) -> None:
    """Naive: finds alice's valid signature somewhere in the message: "signed by alice@example.org, valid"."""
    report = verify(CASES[case](pki), pki)
    assert not report.signed and report.status == "not-signed"
    assert report.signers == ()


@pytest.mark.parametrize("case", ["after-attacker-text", "hidden-by-css", "referenced-by-cid"])
def test_wrapped_signature_is_listed_as_a_nested_part(pki: TestPKI, case: str) -> None:
    """The signed part is reported as a part, never dropped silently. Naive: either "signed" or nothing."""
    report = verify(CASES[case](pki), pki)
    assert any("multipart/signed" in p for p in report.nested_parts)
    assert report.to_dict()["nested_parts"] == list(report.nested_parts)


def test_the_wrapped_signature_itself_is_genuine(pki: TestPKI) -> None:
    """Sanity: the embedded entity verifies on its own, so the "not signed" above comes from where it sits."""
    entity = _signed_entity(pki)
    assert verify(b"From: alice@example.org\r\n" + entity, pki).status == "valid"


def test_signed_wrapper_is_signed_by_its_own_signer_only(pki: TestPKI) -> None:
    """Naive: lists every valid signature found: "signed by eve and alice"."""
    report = verify(inside_signed_content(pki), pki)
    assert report.status == "valid" and [s.emails for s in report.signers] == [["eve@evil.example"]]
    assert any("multipart/signed" in p for p in report.nested_parts)


def test_opened_content_is_the_outer_multipart_not_the_signed_part(pki: TestPKI) -> None:
    """open() does not descend into the wrapped part: the content it hands over is the whole mixed message, so a
    renderer never shows the attacker's part as "the signed message". Naive: hands over the signed part as the
    message."""
    opened = open_message(after_attacker_text(pki))
    assert opened.report.layers == () and opened.report.content_type == "multipart/mixed"
    assert ATTACKER.strip() in opened.message


@pytest.mark.parametrize("case", ["after-attacker-text", "referenced-by-cid"])
def test_gateway_stamps_wrapped_signature_none(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                               pki: TestPKI, case: str) -> None:
    """Naive gateway: stamps smime=pass and tags the Subject [signed]."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"subject_tag_signed": "[signed]"}})
    assert gw.send(CASES[case](pki), "mallory@evil.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "smime=none" in stamp and "smime=pass" not in stamp
    assert "[signed]" not in (got.header("Subject") or [""])[0].lower()


def _boundary(signed: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', signed)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("where", ["after-the-signature", "before-the-content"])
def test_third_part_inside_multipart_signed_is_refused(pki: TestPKI, where: str) -> None:
    """A third body part added to alice's multipart/signed. Naive: verifies parts one and two, renders all three."""
    signed = sign(mail("alice@example.org", b"Lunch at noon?\r\n"), alice(pki))
    b = _boundary(signed)
    attacker = b"--" + b + b"\r\nContent-Type: text/plain\r\n\r\n" + ATTACKER
    if where == "after-the-signature":
        forged = signed.replace(b"--" + b + b"--", attacker + b"--" + b + b"--")
    else:
        forged = signed.replace(b"--" + b + b"\r\n", attacker + b"--" + b + b"\r\n", 1)
    with pytest.raises(MalformedMIMEError, match="exactly two parts"):
        verify(forged, pki)


def test_preamble_text_is_not_part_of_the_signed_message(pki: TestPKI) -> None:
    """Text in the multipart/signed preamble (before the first boundary), where some clients show it. Naive: shows
    it with the signed content. mailseal: the signature is valid for what it covers, and the opened message holds
    only that."""
    signed = sign(mail("alice@example.org", b"Lunch at noon?\r\n"), alice(pki))
    b = _boundary(signed)
    forged = signed.replace(b"\r\n\r\n--" + b, b"\r\n\r\n" + ATTACKER + b"--" + b, 1)
    opened = mailseal.open(forged, trust=trust(pki))
    assert opened.report.status == "valid"
    assert ATTACKER.strip() not in opened.message and b"Lunch at noon?" in opened.message

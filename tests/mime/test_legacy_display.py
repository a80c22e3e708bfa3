"""Legacy display elements on the way in (RFC 9788 §4.5.3, issue 17 point 4): the text/plain and the text/html
forms are read and compared with the protected fields, and hidden when the message is written with them.

A reader unaware of the element shows "Subject: ..." twice (once from the restored header, once at the top of the
body) and never notices an element that names another Subject than the protected one.
"""

from __future__ import annotations

import base64

import pytest

import mailseal
from mailseal.mime import Entity
from mailseal.mime.legacydisplay import find, main_body_parts
from tests.attacks.support import alice, sign, trust, verify
from tests.support.messages import ident
from tests.support.testpki import TestPKI

HEAD = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Dinner plans\r\n"
        b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <ld@example.org>\r\nMIME-Version: 1.0\r\n")


def html_body(shown_subject: str = "Dinner plans") -> bytes:
    return ("<html><head><title>x</title></head><body>\r\n"
            f'<div class="header-protection-legacy-display">\r\n<pre>Subject: {shown_subject}</pre>\r\n</div>\r\n'
            "<p>Let's meet at Rama's Roti Shop at 8pm.</p>\r\n</body></html>\r\n").encode()


def alternative(shown_subject: str = "Dinner plans", *, html_b64: bool = False) -> bytes:
    """A multipart/alternative message whose two main body parts each begin with a legacy display element."""
    html = html_body(shown_subject)
    html_part = (b'Content-Type: text/html; charset="us-ascii"; hp-legacy-display="1"\r\n'
                 + (b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(html).replace(b"\n", b"\r\n")
                    if html_b64 else b"\r\n" + html))
    return (HEAD + b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
            b"--alt\r\n"
            b'Content-Type: text/plain; charset="us-ascii"; hp-legacy-display="1"\r\n\r\n'
            b"Subject: Dinner plans\r\n\r\nLet's meet at Rama's Roti Shop at 8pm.\r\n"
            b"--alt\r\n" + html_part + b"\r\n--alt--\r\n")


def test_main_body_parts_of_an_alternative_are_both_texts() -> None:
    payload = Entity.parse(alternative())
    assert [p.content_type()[0] for p, _, _ in main_body_parts(payload)] == ["text/plain", "text/html"]


def test_html_element_is_read() -> None:
    elements = find(Entity.parse(alternative("Lunch instead")))
    html = next(e for e in elements if e.kind == "text/html")
    assert html.fields == (("Subject", "Lunch instead"),)


def test_div_after_visible_text_is_not_an_element() -> None:
    """Only a div at the start of the part is a legacy display element: one further down is the author's."""
    body = b"<html><body><p>Hello</p><div class=\"header-protection-legacy-display\">Subject: x</div></body></html>"
    message = HEAD + b'Content-Type: text/html; hp-legacy-display="1"\r\n\r\n' + body
    assert find(Entity.parse(message)) == ()


@pytest.mark.parametrize("html_b64", [False, True], ids=["html-7bit", "html-base64"])
def test_encrypted_message_opens_with_both_elements_hidden(pki: TestPKI, html_b64: bool) -> None:
    """hp="cipher", Subject obscured outside: the elements agree with the protected Subject, no difference; the
    opened message shows the Subject once (in its header), neither element, and no hp-legacy-display mark."""
    bob = pki.user("bob", "ec-p256")
    sealed = mailseal.encrypt(alternative(html_b64=html_b64), [bob.cert], protect_headers=True)
    assert b"Subject: [...]" in sealed
    opened = mailseal.open(sealed, [ident(bob)], trust=trust(pki))
    headers = opened.report.headers
    assert headers is not None and headers.source == "protected" and headers.legacy_display
    assert headers.differences == ()
    assert headers.to_dict()["legacy_display_forms"] == ["text/html", "text/plain"]
    out = opened.message
    assert out.count(b"Subject: Dinner plans") == 1 and out.index(b"Subject: Dinner plans") < out.index(b"\r\n\r\n")
    assert b"hp-legacy-display" not in out
    shown = Entity.parse(out)
    parts = list(main_body_parts(shown))
    plain, html = (p.decoded_body() for p, _, _ in parts)
    assert plain == b"Let's meet at Rama's Roti Shop at 8pm."  # the line end before the delimiter is the delimiter's
    assert b"header-protection-legacy-display" not in html and b"<p>Let's meet" in html
    assert find(shown) == ()  # what is left carries no element a downstream reader would strip again


def test_html_element_naming_another_subject_is_a_difference(pki: TestPKI) -> None:
    """The sender's HTML element shows "Wire 50k today" where the protected Subject is "Dinner plans".
    Naive: a reader of the HTML part sees "Subject: Wire 50k today" at the top of a validly signed message."""
    signed = sign(alternative("Wire 50k today"), alice(pki), protect_headers=True)
    report = verify(signed, pki)
    assert report.status == "valid"
    assert report.headers is not None and report.headers.source == "protected"
    assert any("legacy display element (text/html) shows a Subject (Wire 50k today)" in d
               for d in report.headers.differences)


def test_signed_message_opened_hides_the_elements_but_the_signed_bytes_stay(pki: TestPKI) -> None:
    signed = sign(alternative(), alice(pki), protect_headers=True)
    opened = mailseal.open(signed, trust=trust(pki))
    assert opened.report.status == "valid"
    assert b"header-protection-legacy-display" not in opened.message
    assert b"header-protection-legacy-display" in signed  # the signed message itself is never rewritten


def test_element_is_kept_when_the_protected_fields_are_not_believed(pki: TestPKI) -> None:
    """A broken signature: the outer fields are shown, so the element is the only place the reader sees the
    sender's Subject; it is not hidden."""
    signed = sign(alternative(), alice(pki), protect_headers=True)
    broken = signed.replace(b"Rama's Roti Shop at 8pm.</p>", b"Rama's Roti Shop at 9pm.</p>")
    opened = mailseal.open(broken, trust=trust(pki))
    assert opened.report.status == "invalid-signature"
    assert b"header-protection-legacy-display" in opened.message


def test_one_part_html_payload_hides_its_element_and_mark(pki: TestPKI) -> None:
    """The payload root itself is the text/html main body part (RFC 9788 Appendix C's text/html sample shape)."""
    bob = pki.user("bob", "ec-p256")
    message = HEAD + b'Content-Type: text/html; charset="us-ascii"; hp-legacy-display="1"\r\n\r\n' + html_body()
    sealed = mailseal.encrypt(message, [bob.cert], protect_headers=True)
    opened = mailseal.open(sealed, [ident(bob)], trust=trust(pki))
    assert opened.report.headers is not None and opened.report.headers.legacy_display
    out = opened.message
    assert b"header-protection-legacy-display" not in out and b"hp-legacy-display" not in out
    assert b"<p>Let's meet" in out and b"Content-Type: text/html" in out

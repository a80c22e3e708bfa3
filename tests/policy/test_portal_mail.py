"""The portal's mail builders (docs/portal.md): notification, passcode mail, reply (threaded), reply-all list."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.parser import BytesParser

from mailseal.policy.portal_mail import notification, passcode_mail, recipients_of, reply_mail
from mailseal.policy.portal_settings import Brand, PortalSettings

ORIGINAL = (b"From: Alice <alice@example.org>\r\nTo: dave@outside.example, bob@example.org\r\n"
            b"Cc: carol@example.org\r\nSubject: Contract\r\nMessage-ID: <m2@example.org>\r\n"
            b"References: <m1@example.org>\r\n\r\nsecret body\r\n")
WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _parse(data: bytes) -> email.message.EmailMessage:
    return BytesParser(policy=email.policy.default).parsebytes(data)  # type: ignore[return-value]


def test_notification_escapes_brand_text_and_carries_the_link() -> None:
    brand = Brand(domain="example.org", introduction_text="<script>alert(1)</script>", subject="real")
    data = notification(brand, PortalSettings(base_url="https://p.example/"), recipient="dave@outside.example",
                        from_header="Alice <alice@example.org>", sender="alice@example.org", subject="Contract",
                        token="T" * 43, expires=WHEN, hostname="gw.example.org")
    msg = _parse(data)
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html and f"https://p.example/m/{'T' * 43}" in html
    assert msg["To"] == "dave@outside.example" and msg["Subject"] == "Contract"
    assert "Alice via the portal" in msg["From"] and "alice@example.org" in msg["From"]


def test_passcode_mail_has_code_and_reference() -> None:
    data = passcode_mail(Brand(), PortalSettings(sender="portal@example.org"), recipient="dave@outside.example",
                         original_sender="alice@example.org", code="12345678", reference="K7QF2M", expires=WHEN,
                         hostname="gw.example.org")
    msg = _parse(data)
    assert msg["From"] == "portal@example.org" and "K7QF2M" in msg["Subject"] and "12345678" not in msg["Subject"]
    assert "12345678" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert msg["Auto-Submitted"] == "auto-generated"


def test_reply_is_threaded() -> None:
    msg = _parse(reply_mail(ORIGINAL, author="dave@outside.example", text="Signed, thanks.",
                            to=["alice@example.org"], cc=["bob@example.org"], hostname="gw.example.org"))
    assert msg["Subject"] == "Re: Contract" and msg["In-Reply-To"] == "<m2@example.org>"
    assert msg["References"] == "<m1@example.org> <m2@example.org>" and msg["Cc"] == "bob@example.org"
    assert "secret body" not in msg.as_string()


def test_recipients_of_for_reply_all() -> None:
    assert recipients_of(ORIGINAL) == ["dave@outside.example", "bob@example.org", "carol@example.org"]

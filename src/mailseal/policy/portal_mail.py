"""The recipient portal's mail (docs/portal.md), branded from ``[portal.brands]``: the notification with the link
(built by the gateway), the passcode mail and the reply (built by the portal's pages and queued in the outbox).
Pure: bytes in, bytes out; nothing is sent here.

A notification carries no content of the message; its logo is a CID image of the same message, never a remote
URL. Every text from the settings is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from .portal_settings import Brand, PortalSettings


def _display(from_header: str, sender: str) -> tuple[str, str]:
    """The sender's display name and address, from the original From (the envelope sender when it has none)."""
    name, address = parseaddr(from_header)
    address = address or sender
    return (name or address), address


#: What a notification adds to the brand's text when reading needs more than a mailed code (docs/portal.md).
PROOF_TEXT = {
    "password": "You will need the password the sender gives you by another channel (a call or a text message).",
    "account": "Sign in with your portal account; the first time, the portal helps you set it up.",
}


def notification(brand: Brand, settings: PortalSettings, *, recipient: str, from_header: str, sender: str,
                 subject: str, token: str, expires: datetime | None, hostname: str,
                 from_address: str | None = None, proof: str = "passcode") -> bytes:
    """The branded notification for one recipient: text and HTML alternatives (the logo a CID image of the same
    message, never a remote URL), the link with ``token``, no content of the original. From the sender's address,
    or ``from_address`` (the portal's, when the gateway signs as it) with Reply-To the sender. ``proof``: what the
    reader will prove (a sentence of ``PROOF_TEXT`` says so beside the brand's text)."""
    who, address = _display(from_header, sender)
    link = settings.link(token)
    msg = EmailMessage(policy=SMTP)
    name = brand.from_name or f"{who} via the portal"
    local, _, domain = (from_address or address).partition("@")
    msg["From"] = Address(display_name=name, username=local, domain=domain)
    if from_address is not None and from_address.lower() != address.lower():
        msg["Reply-To"] = address  # sent from the portal's address (the gateway signs as it): answers go to the sender
    msg["To"] = recipient
    msg["Subject"] = subject if brand.subject == "real" and subject else brand.neutral_subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    until = f"The message can be read until {expires.strftime('%Y-%m-%d %H:%M UTC')}." if expires else ""
    named = who if who.lower() == address.lower() else f"{who} <{address}>"
    email_text = f"{brand.email_text} {PROOF_TEXT[proof]}" if proof in PROOF_TEXT else brand.email_text
    text = [f"{named} {brand.introduction_text}", "", email_text, "", f"{brand.read_button_text}:", link, ""]
    if until:
        text += [until, ""]
    if brand.privacy_statement_url:
        text += [f"Privacy statement: {brand.privacy_statement_url}", ""]
    if brand.disclaimer:
        text += [brand.disclaimer, ""]
    msg.set_content("\n".join(text))
    logo_cid = make_msgid(domain=hostname)[1:-1] if brand.logo is not None else None
    msg.add_alternative(_html(brand, who, address, link, until, logo_cid, email_text), subtype="html")
    if brand.logo is not None and logo_cid is not None and brand.logo_type is not None:
        maintype, subtype = brand.logo_type.split("/")
        html_part = msg.get_body(("html",))
        assert html_part is not None  # added just above
        html_part.add_related(brand.logo.read_bytes(), maintype=maintype, subtype=subtype, cid=f"<{logo_cid}>",
                              disposition="inline", filename=f"logo.{subtype}")
    return msg.as_bytes()


def _html(brand: Brand, who: str, address: str, link: str, until: str, logo_cid: str | None,
          email_text: str) -> str:
    e = html.escape
    colour = brand.background_colour  # checked as #rrggbb by the settings
    logo = f'<img src="cid:{e(logo_cid)}" alt="" style="max-height:64px"><br>' if logo_cid else ""
    privacy = (f'<p style="font-size:12px"><a href="{e(brand.privacy_statement_url)}">Privacy statement</a></p>'
               if brand.privacy_statement_url else "")
    disclaimer = f'<p style="font-size:12px;color:#555">{e(brand.disclaimer)}</p>' if brand.disclaimer else ""
    named = "" if who.lower() == address.lower() else f" &lt;{e(address)}&gt;"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body style="margin:0;padding:0;background:{colour};font-family:Arial,sans-serif">
<table role="presentation" width="100%" style="background:{colour}"><tr><td align="center" style="padding:24px">
<table role="presentation" style="max-width:560px;background:#ffffff;border-radius:6px"><tr><td style="padding:24px">
{logo}<p><strong>{e(who)}</strong>{named} {e(brand.introduction_text)}</p>
<p>{e(email_text)}</p>
<p><a href="{e(link)}" style="display:inline-block;padding:12px 20px;background:#1a56db;color:#ffffff;
text-decoration:none;border-radius:4px">{e(brand.read_button_text)}</a></p>
<p style="font-size:12px;color:#555">{e(until)}</p>{privacy}{disclaimer}
</td></tr></table></td></tr></table></body></html>
"""


def passcode_mail(brand: Brand, settings: PortalSettings, *, recipient: str, original_sender: str, code: str,
                  reference: str, expires: datetime, hostname: str) -> bytes:
    """The one-time passcode for ``recipient``, from the portal's sender address, with the reference code the
    portal page shows beside the form (so the reader can tell which mail belongs to which request)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = settings.sender_for(original_sender)
    msg["To"] = recipient
    msg["Subject"] = f"Your one-time passcode (reference {reference})"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: no automatic answer to this one
    until = expires.strftime("%H:%M UTC")
    msg.set_content(f"Your one-time passcode is {code}\n\nReference: {reference}\nIt works once, until {until}.\n"
                    "If you did not ask for it, ignore this mail.\n")
    e = html.escape
    msg.add_alternative(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="font-family:Arial,sans-serif;background:{brand.background_colour}">
<div style="max-width:480px;margin:24px auto;background:#ffffff;padding:24px;border-radius:6px">
<p>Your one-time passcode is</p><p style="font-size:28px;letter-spacing:4px"><strong>{e(code)}</strong></p>
<p>Reference: {e(reference)}<br>It works once, until {e(until)}.</p>
<p style="font-size:12px;color:#555">If you did not ask for it, ignore this mail.</p></div></body></html>
""", subtype="html")
    return msg.as_bytes()


def password_notice(brand: Brand, settings: PortalSettings, *, sender: str, subject: str, recipients: Sequence[str],
                    message_id: str, password: str | None, hostname: str) -> bytes:
    """The password notice for the **sender** of a message read with a password (proof = "password"): which
    message (subject, recipients, portal id) and the password to pass on to the recipients by another channel (a
    call, a text message), never by mail. ``password`` None: the sender chose it (``X-Mailseal-Portal-Password``),
    and the notice only confirms that the message waits in the portal behind it. From the portal's sender address
    (the gateway signs it when it holds that identity)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = settings.sender_for(sender)
    msg["To"] = sender
    msg["Subject"] = f"Password for your protected message: {subject}" if subject else \
        "Password for your protected message"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: no automatic answer to this one
    who = ", ".join(recipients)
    if password is not None:
        lines = [f"Your message \"{subject}\" to {who} waits in the portal (id {message_id}).", "",
                 "The recipients need this password to read it:", "", f"    {password}", "",
                 "Pass it on to them by another channel: read it out on the phone or send it as a text message. "
                 "Do not forward this mail: anyone holding it and the link could read the message.", ""]
    else:
        lines = [f"Your message \"{subject}\" to {who} waits in the portal (id {message_id}), protected by the "
                 "password you chose.", "", "Pass it on to the recipients by another channel (a call, a text "
                 "message), never by mail.", ""]
    if brand.disclaimer:
        lines += [brand.disclaimer, ""]
    msg.set_content("\n".join(lines))
    e = html.escape
    shown = (f'<p>The recipients need this password to read it:</p><p style="font-size:24px;letter-spacing:2px;'
             f'font-family:monospace"><strong>{e(password)}</strong></p><p>Pass it on to them by another channel: '
             "read it out on the phone or send it as a text message. Do not forward this mail.</p>"
             if password is not None else
             "<p>It is protected by the password you chose. Pass it on to the recipients by another channel (a call, "
             "a text message), never by mail.</p>")
    msg.add_alternative(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="font-family:Arial,sans-serif;background:{brand.background_colour}">
<div style="max-width:520px;margin:24px auto;background:#ffffff;padding:24px;border-radius:6px">
<p>Your message &ldquo;{e(subject)}&rdquo; to {e(who)} waits in the portal (id {e(message_id)}).</p>
{shown}</div></body></html>
""", subtype="html")
    return msg.as_bytes()


def reply_mail(original: bytes, *, author: str, text: str, to: Sequence[str], cc: Sequence[str] = (),
               hostname: str) -> bytes:
    """A reply written in the portal by ``author`` to ``to`` (and ``cc``), threaded under ``original`` (its
    Message-ID in In-Reply-To and at the end of References, RFC 5322 §3.6.4), Subject "Re: ...". The gateway
    sends it from the portal's sender address on the author's behalf, signed and, when it can, encrypted."""
    head = BytesHeaderParser(policy=SMTP).parsebytes(original)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = author
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    subject = str(head.get("Subject", "")).strip()
    msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}".rstrip()
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    parent = str(head.get("Message-ID", "")).strip()
    if parent:
        msg["In-Reply-To"] = parent
        earlier = str(head.get("References", "")).split()
        msg["References"] = " ".join([*earlier, parent])
    msg.set_content(text)
    return msg.as_bytes()


def recipients_of(original: bytes) -> list[str]:
    """The To and Cc addresses of ``original`` (for reply-all), lower case, in order, once each."""
    head = BytesHeaderParser(policy=SMTP).parsebytes(original)
    found = getaddresses([str(v) for name in ("To", "Cc") for v in head.get_all(name, [])])
    return list(dict.fromkeys(a.lower() for _, a in found if a))


__all__ = ["PROOF_TEXT", "notification", "passcode_mail", "password_notice", "recipients_of", "reply_mail"]

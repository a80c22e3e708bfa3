"""The gateway's side of the recipient portal (docs/portal.md): the message deposited sealed in the store, and one
branded notification per portal recipient (HTML and a text alternative, the brand's logo embedded as a CID image,
a link with the recipient's token, no content of the message).

Each recipient's notification is addressed to that recipient alone, so a Bcc recipient never sees the others (nor
they the Bcc recipient). The pipeline signs a notification with the sender's key when the policy signs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr

from ..policy.portal_settings import Brand, PortalSettings
from ..store.portal import PortalStore
from ..store.portal_records import Deposit

#: The fields of the original kept with the deposited message; Bcc is dropped (it must reach no recipient).
DROPPED_FIELDS = ("Bcc",)


def deposit(portal: PortalStore, settings: PortalSettings, message: bytes, sender: str,
            recipients: Sequence[str], bcc: Sequence[str], now: datetime | None = None) -> tuple[Deposit, Brand]:
    """Seal ``message`` in the portal store for ``recipients`` with the sender's brand (its expiry, proof and read
    receipt); the deposit (with each recipient's clear token) and the brand."""
    brand = settings.brand_for(sender)
    domain = brand.domain or sender.rpartition("@")[2].lower()
    done = portal.deposit(message, sender, recipients, brand=domain, bcc=bcc, expiry_days=settings.expiry_for(brand),
                          proof=brand.proof, read_receipt=brand.read_receipt, now=now, actor="gateway")
    return done, brand


def _display(from_header: str, sender: str) -> tuple[str, str]:
    """The sender's display name and address, from the original From (the envelope sender when it has none)."""
    name, address = parseaddr(from_header)
    address = address or sender
    return (name or address), address


def notification(brand: Brand, settings: PortalSettings, *, recipient: str, from_header: str, sender: str,
                 subject: str, token: str, expires: datetime | None, hostname: str) -> bytes:
    """The branded notification for one recipient: text and HTML alternatives (the logo a CID image of the same
    message, never a remote URL), the link with ``token``, no content of the original."""
    who, address = _display(from_header, sender)
    link = settings.link(token)
    msg = EmailMessage(policy=SMTP)
    name = brand.from_name or f"{who} via the portal"
    local, _, domain = address.partition("@")
    msg["From"] = Address(display_name=name, username=local, domain=domain)
    msg["To"] = recipient
    msg["Subject"] = subject if brand.subject == "real" and subject else brand.neutral_subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    until = f"The message can be read until {expires.strftime('%Y-%m-%d %H:%M UTC')}." if expires else ""
    named = who if who.lower() == address.lower() else f"{who} <{address}>"
    text = [f"{named} {brand.introduction_text}", "", brand.email_text, "", f"{brand.read_button_text}:",
            link, ""]
    if until:
        text += [until, ""]
    if brand.privacy_statement_url:
        text += [f"Privacy statement: {brand.privacy_statement_url}", ""]
    if brand.disclaimer:
        text += [brand.disclaimer, ""]
    msg.set_content("\n".join(text))
    logo_cid = make_msgid(domain=hostname)[1:-1] if brand.logo is not None else None
    msg.add_alternative(_html(brand, who, address, link, until, logo_cid), subtype="html")
    if brand.logo is not None and logo_cid is not None and brand.logo_type is not None:
        maintype, subtype = brand.logo_type.split("/")
        html_part = msg.get_body(("html",))
        assert html_part is not None  # added just above
        html_part.add_related(brand.logo.read_bytes(), maintype=maintype, subtype=subtype, cid=f"<{logo_cid}>",
                              disposition="inline", filename=f"logo.{subtype}")
    return msg.as_bytes()


def _html(brand: Brand, who: str, address: str, link: str, until: str, logo_cid: str | None) -> str:
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
<p>{e(brand.email_text)}</p>
<p><a href="{e(link)}" style="display:inline-block;padding:12px 20px;background:#1a56db;color:#ffffff;
text-decoration:none;border-radius:4px">{e(brand.read_button_text)}</a></p>
<p style="font-size:12px;color:#555">{e(until)}</p>{privacy}{disclaimer}
</td></tr></table></td></tr></table></body></html>
"""


__all__ = ["DROPPED_FIELDS", "deposit", "notification"]

"""The mail the portal's pages write and queue in the outbox for the gateway to send (``gateway/portal_outbox.py``):
the one-time passcode to a recipient, and a recipient's reply to the original sender (threaded with In-Reply-To
and References, RFC 5322 §3.6.4). The gateway signs, encrypts and relays them; these only build the messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

#: The longest reply a recipient may write in the portal.
MAX_REPLY = 100_000


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def passcode_mail(sender: str, address: str, code: str, reference: str, expires: datetime, now: datetime,
                  *, brand: str) -> bytes:
    """The passcode mail: the code, its reference (the same as on the portal page, so that the reader can match
    them), when it stops working; nothing of the message itself."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = address
    msg["Subject"] = f"Your one-time passcode (reference {reference})"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("portal-code", domain=domain_of(sender) or brand)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    minutes = max(1, int((expires - now).total_seconds() // 60))
    msg.set_content(
        f"Here is your one-time passcode to read a protected message from {brand}:\n\n"
        f"    {code}\n\n"
        f"Reference: {reference} (the portal page shows the same reference)\n"
        f"It works once, in the browser where you asked for it, for the next {minutes} minutes.\n\n"
        "If you did not ask for a code, ignore this mail: nobody can read the message without it.\n")
    return msg.as_bytes()


def internal_recipients(original_to: Sequence[str], sender: str, portal_recipients: Sequence[str]) -> list[str]:
    """Reply-all's extra recipients: the original's To and Cc addresses inside the sender's organisation (the
    sender's domain) who did not receive it through the portal. Nobody outside gets a reply-all from the portal."""
    inside = domain_of(sender)
    through_portal = {a.lower() for a in portal_recipients}
    out: list[str] = []
    for _, address in getaddresses(list(original_to)):
        low = address.lower()
        if low and domain_of(low) == inside and low not in through_portal and low != sender.lower() \
                and low not in out:
            out.append(low)
    return out


def reply_mail(author: str, to: Sequence[str], subject: str, text: str, now: datetime, *,
               in_reply_to: str | None, references: str | None) -> bytes:
    """A reply from the portal recipient ``author`` to ``to``, threaded under the original."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = author
    msg["To"] = ", ".join(to)
    clean = " ".join(subject.split())
    msg["Subject"] = clean if clean.lower().startswith("re:") else f"Re: {clean}".rstrip()
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("portal-reply", domain=domain_of(author) or None)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = f"{references} {in_reply_to}".strip() if references else in_reply_to
    msg.set_content(text[:MAX_REPLY])
    return msg.as_bytes()


def sender_address(header: str) -> str:
    """The address of a From field (``Alice <alice@example.org>`` gives ``alice@example.org``)."""
    return parseaddr(header)[1].lower()


__all__ = ["MAX_REPLY", "domain_of", "internal_recipients", "passcode_mail", "reply_mail", "sender_address"]

"""What the portal shows of one message: its headers, its text, its HTML sanitised (``portal_sanitize``), its
attachments and inline parts by number, and the signature status of the original when the sender signed it (the
library's ``open_message`` report, in the verify page's words: ``report_words``)."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses

from ..errors import MailsealError
from ..mime.opening import open_message
from ..pki.truststore import TrustStore
from ..pki.validation import ValidationContext
from .portal_sanitize import sanitise
from .report_words import STATUS_STATES, State

log = logging.getLogger("mailseal.web.portal")
#: The header fields the portal shows, in this order.
SHOWN_HEADERS = ("From", "To", "Cc", "Date", "Subject")
#: The longest text body shown in the page (the rest is in the message, which the reader may not download whole).
MAX_TEXT = 2 * 1024 * 1024


@dataclass(frozen=True)
class Part:
    """An attachment or an inline part: its number in the message's walk, its name, type and size."""

    index: int
    filename: str
    content_type: str
    size: int
    content_id: str | None = None


@dataclass(frozen=True)
class Signature:
    """The original's signature as the recipient sees it: the state (tone, icon, word) and who signed."""

    state: State
    signers: tuple[str, ...] = ()


@dataclass
class MessageView:
    headers: list[tuple[str, str]]
    subject: str
    sender: str
    message_id: str | None
    references: str | None
    recipients: tuple[str, ...]
    text: str | None
    html: str | None
    blocked_remote: int = 0
    blocked_inline: int = 0
    attachments: list[Part] = field(default_factory=list)
    inline: list[Part] = field(default_factory=list)
    signature: Signature | None = None


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
        return str(value) if value is not None else ""
    except Exception:  # deliberately broad: a malformed header is shown as absent, never as a traceback
        return ""


def _text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except Exception:  # an unknown charset or a broken transfer encoding: decode what is there
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content[:MAX_TEXT] if isinstance(content, str) else ""


def _size(part: EmailMessage) -> int:
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def walk(msg: EmailMessage) -> list[EmailMessage]:
    """The message's parts in order: the numbers the portal's part URLs use."""
    return [p for p in msg.walk() if isinstance(p, EmailMessage)]


#: Inline images the portal serves for a cid: reference (never SVG: it may carry script).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def part_bytes(content: bytes, index: int | None = None, cid: str | None = None) -> tuple[Part, bytes] | None:
    """A leaf part of the message, decoded: by its number (a download) or by its Content-ID (an inline image of
    one of ``INLINE_IMAGE_TYPES``); None when there is no such part. ``content`` is what ``signature_of`` gives."""
    parts = walk(_parse(content))
    if cid is not None:
        found = [i for i, p in enumerate(parts) if not p.is_multipart()
                 and str(p.get("Content-ID", "")).strip().strip("<>") == cid
                 and p.get_content_type() in INLINE_IMAGE_TYPES]
        index = found[0] if found else None
    if index is None or not 0 <= index < len(parts) or parts[index].is_multipart():
        return None
    part = parts[index]
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return _describe(index, part, len(data)), data


def _describe(index: int, part: EmailMessage, size: int) -> Part:
    cid = part.get("Content-ID")
    cid_value = str(cid).strip().strip("<>") if cid else None
    name = part.get_filename() or f"part-{index}"
    # A file name from the message: only its last path element, no control characters.
    name = "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable()) or f"part-{index}"
    return Part(index, name[:200], part.get_content_type(), size, cid_value)


def signature_of(raw: bytes, anchors: TrustStore, at: datetime) -> tuple[Signature | None, bytes]:
    """The signature state of the original (None when not signed) and the content to show (the signed content,
    when the message is signed). A message the library cannot open is shown as it is, unsigned."""
    try:
        context = ValidationContext(trust=anchors, moment=at, revocation_mode="soft-fail", allow_fetching=False)
        opened = open_message(raw, context=context)
    except MailsealError as exc:
        log.info("portal: the original was not opened (%s); shown as it is", exc.code)
        return None, raw
    except Exception as exc:  # deliberately broad: an input the parsers did not expect is shown as it is
        log.info("portal: the original was not opened (%s); shown as it is", type(exc).__name__)
        return None, raw
    if not opened.report.signed:
        return None, raw
    signers = tuple(addr for s in opened.report.signers for addr in s.emails)
    return Signature(STATUS_STATES[opened.report.status], signers), opened.message


def view_message(raw: bytes, *, show_images: bool = False, part_url: Callable[[str], str] | None = None,
                 anchors: TrustStore | None = None, at: datetime | None = None) -> MessageView:
    """The view of ``raw`` (a whole RFC 5322 message). ``anchors`` and ``at`` judge a signature; ``part_url``
    names an inline part by its Content-ID (for the cid: images, shown only with ``show_images``)."""
    signature: Signature | None = None
    content = raw
    if anchors is not None and at is not None:
        signature, content = signature_of(raw, anchors, at)
    msg = _parse(content)
    parts = walk(msg)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    attachments: list[Part] = []
    inline: list[Part] = []
    for index, part in enumerate(parts):
        if part.is_multipart() or part is text_part or part is html_part:
            continue
        described = _describe(index, part, _size(part))
        if described.content_id and described.content_type in INLINE_IMAGE_TYPES and not part.is_attachment():
            inline.append(described)
        else:
            attachments.append(described)
    html = None
    blocked_remote = blocked_inline = 0
    if isinstance(html_part, EmailMessage):
        known = frozenset(p.content_id for p in inline if p.content_id)
        cleaned = sanitise(_text(html_part), show_images=show_images, part_url=part_url, known_cids=known)
        html, blocked_remote, blocked_inline = cleaned.html, cleaned.blocked_remote, cleaned.blocked_inline
    recipients = tuple(addr for _, addr in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if addr)
    headers = [(name, _header(msg, name)) for name in SHOWN_HEADERS if _header(msg, name)]
    return MessageView(
        headers=headers, subject=_header(msg, "Subject"), sender=_header(msg, "From"),
        message_id=_header(msg, "Message-ID") or None, references=_header(msg, "References") or None,
        recipients=recipients, text=_text(text_part) if isinstance(text_part, EmailMessage) else None, html=html,
        blocked_remote=blocked_remote, blocked_inline=blocked_inline, attachments=attachments, inline=inline,
        signature=signature)


__all__ = ["INLINE_IMAGE_TYPES", "SHOWN_HEADERS", "MessageView", "Part", "Signature", "part_bytes", "signature_of", "view_message", "walk"]

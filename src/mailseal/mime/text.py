"""The readable text of a message, for content rules: every text part and text attachment, decoded (transfer
encoding and charset, RFC 2045/2046) and joined, up to a budget of characters. Encrypted layers are not opened."""

from __future__ import annotations

import codecs
import html
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import MailsealError
from .entity import Entity
from .multipart import split_multipart

#: Attachments sent as application/octet-stream whose file name says they are text.
TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".csv", ".tsv", ".log", ".json", ".xml", ".md", ".eml")
MAX_PARTS = 200  # parts looked at before the walk stops (a message of a thousand empty parts is not read through)
MAX_DEPTH = 8  # nested multiparts and message/rfc822 entities followed
_PKCS7 = ("application/pkcs7-mime", "application/x-pkcs7-mime")


@dataclass
class ExtractedText:
    """What was read: the text (parts separated by blank lines), whether the budget cut it short, and the parts
    that could not be read (encrypted, unreadable): described by kind only."""

    text: str = ""
    truncated: bool = False
    skipped: list[str] = field(default_factory=list)
    parts: int = 0


class _Budget(Exception):
    """The character budget is spent: stop the walk."""


def extract_text(entity: Entity, max_chars: int) -> ExtractedText:
    """The text parts of ``entity`` (the Subject first), at most ``max_chars`` characters in all.

    A part that cannot be decoded (corrupt base64, an unknown transfer encoding) is read as it stands, so a broken
    encoding does not hide its text from the rules; an encrypted layer is listed in ``skipped``.
    """
    out = ExtractedText()
    pieces: list[str] = []
    used = 0

    def add(text: str) -> None:
        nonlocal used
        room = max_chars - used
        if len(text) > room:
            pieces.append(text[:room])
            used = max_chars
            out.truncated = True
            raise _Budget
        pieces.append(text)
        used += len(text) + 2

    try:
        subject = entity.field("Subject")
        if subject:
            add(subject)
        _walk(entity, 0, out, add, max_chars)
    except _Budget:
        pass
    out.text = "\n\n".join(pieces)
    return out


def _walk(entity: Entity, depth: int, out: ExtractedText, add: Callable[[str], None], max_chars: int) -> None:
    out.parts += 1
    if out.parts > MAX_PARTS or depth > MAX_DEPTH:
        out.skipped.append("parts beyond the walk's limits")
        raise _Budget
    ctype, params = entity.content_type()
    if ctype.startswith("multipart/"):
        boundary = params.get("boundary")
        try:
            if not boundary:
                raise MailsealError("no boundary")
            parts = split_multipart(entity.region, boundary)
        except MailsealError:
            add(_decode(entity.region.read(0, max_chars * 4), "utf-8"))
            return
        if ctype == "multipart/signed":
            parts = parts[:1]  # the signed content; the signature itself holds no text
        for part in parts:
            _walk(Entity.content_from_region(part), depth + 1, out, add, max_chars)
        return
    if ctype == "message/rfc822" or ctype == "message/global":
        try:
            inner = Entity.from_region(entity.region)
        except MailsealError:
            add(_decode(entity.region.read(0, max_chars * 4), "utf-8"))
            return
        subject = inner.field("Subject")
        if subject:
            add(subject)
        _walk(inner, depth + 1, out, add, max_chars)
        return
    if ctype in _PKCS7:
        out.skipped.append("an S/MIME encrypted or opaque-signed part")
        return
    name = (entity.filename() or "").lower()
    if not (ctype.startswith("text/") or name.endswith(TEXT_SUFFIXES)):
        return
    charset = params.get("charset", "utf-8")
    text = _decode_part(entity, charset, max_chars)
    if ctype == "text/html":
        text = html_text(text)
    add(text)


def html_text(markup: str) -> str:
    """The text a reader sees in an HTML part: character data with entities resolved, without tags, scripts,
    styles and comments. One forward scan with ``str.find``: every step moves on or ends the scan, so hostile
    markup (thousands of unclosed ``<script`` or ``<!--``) costs linear time, as neither a regular expression with
    ``.*?`` nor the standard library's HTMLParser would."""
    lower = markup.lower()
    out: list[str] = []
    pos, size = 0, len(markup)
    while pos < size:
        lt = markup.find("<", pos)
        if lt < 0:
            out.append(markup[pos:])
            break
        out.append(markup[pos:lt])
        out.append(" ")
        if lower.startswith("<!--", lt):
            end = lower.find("-->", lt + 4)
            pos = size if end < 0 else end + 3
            continue
        gt = markup.find(">", lt + 1)
        if gt < 0:
            break  # an unclosed tag: nothing after it is shown
        pos = gt + 1
        for hidden in ("script", "style"):
            if lower.startswith("<" + hidden, lt) and not lower[lt + 1 + len(hidden): lt + 2 + len(hidden)].isalnum():
                close = lower.find("</" + hidden, pos)
                if close < 0:
                    pos = size
                else:
                    after = markup.find(">", close)
                    pos = size if after < 0 else after + 1
    return html.unescape("".join(out))


def _decode_part(entity: Entity, charset: str, max_chars: int) -> str:
    """At most about ``max_chars`` characters of the part, transfer encoding and charset removed."""
    try:
        decoder = codecs.getincrementaldecoder(charset)(errors="replace")
    except (LookupError, ValueError):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks: list[str] = []
    size = 0
    try:
        for chunk in entity.decoded_chunks():
            text = decoder.decode(chunk)
            chunks.append(text)
            size += len(text)
            if size > max_chars:
                return "".join(chunks)
        chunks.append(decoder.decode(b"", final=True))
    except MailsealError:
        return _decode(entity.region.read(0, max_chars * 4), charset)
    return "".join(chunks)


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


__all__ = ["ExtractedText", "extract_text", "html_text"]

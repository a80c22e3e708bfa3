"""Legacy display elements (RFC 9788 §4.5.3): the header fields a sender repeats at the start of the main body
parts for readers that do not show protected headers, found, read and hidden the way RFC 9788 tells a receiver to.

A main body part marked ``hp-legacy-display="1"`` begins with one: in text/plain, lines that are header fields up
to the first blank line (§4.5.3.2); in text/html, a ``<div class="header-protection-legacy-display">`` before any
other text (§4.5.3.3). The draft RFC 9788 grew from wrote a separate text/plain part marked ``protected-headers="v1"``
as the first part of a multipart/mixed payload instead: the whole part is the element. A reader that shows the
protected fields hides the element, otherwise the same fields would be shown twice (and an element that disagrees
with them would be shown as if it were the message's). Hiding rewrites the part without the element and without
its ``hp-legacy-display`` mark, so that a reader downstream does not strip the first lines of what is left.
"""

from __future__ import annotations

import base64
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal

from ..errors import MailsealError, MalformedMIMEError
from ..streamio import Region
from .entity import Entity
from .multipart import split_multipart

MAX_ELEMENT = 16 << 10  # an element is a few lines: this much of the part's start is read to find one
MAX_REWRITTEN = 8 << 20  # a main body part larger than this keeps its element (hiding decodes it in memory)
MAX_SCANNED = 64 << 20  # a multipart payload larger than this is not searched (finding its parts reads it all)
MAX_NESTING = 8  # multipart levels followed down to a main body part
CLASS = "header-protection-legacy-display"
_FIELD_LINE = re.compile(r"^([A-Za-z0-9-]+):[ \t]*(.*)$")
_MARK = re.compile(rb'(?i);\s*hp-legacy-display\s*=\s*(?:"[^"]*"|[^;\s]*)')

Kind = Literal["text/plain", "text/html", "part"]


@dataclass(frozen=True)
class LegacyDisplay:
    """One legacy display element: where it is, what it shows, and the bytes that replace its part when hidden."""

    kind: Kind  # "part": the draft's separate part, hidden by removing the part
    fields: tuple[tuple[str, str], ...]  # (name as written, value), in order
    part: Region  # the main body part as received (header and body)
    replaced: Region  # the bytes that hiding replaces: the part, or for "part" up to the next part's start
    replacement: bytes | None  # None: the part is too large to rewrite, the element stays shown
    at_root: bool = False  # the payload root is the main body part: its mark is in the message's header


def main_body_parts(payload: Entity, limit: int = MAX_NESTING) -> Iterator[tuple[Entity, Region, int]]:
    """Each main body part of the payload (RFC 9788 §1.1.2: what a reader shows as the message body): the part,
    the region it was read from (its header and body) and its index in its multipart parent (-1 for the root).
    multipart/alternative: each alternative's; any other multipart: its first part's; a leaf: itself."""
    yield from _walk(payload, None, -1, limit, None)


def _walk(entity: Entity, whole: Region | None, index: int, limit: int,
          following: Region | None) -> Iterator[tuple[Entity, Region, int]]:
    ctype, params = entity.content_type()
    if not ctype.startswith("multipart/"):
        if whole is not None:
            yield entity, whole, index
        return
    boundary = params.get("boundary")
    if limit <= 0 or not boundary or entity.region.size > MAX_SCANNED:
        return
    try:
        parts = split_multipart(entity.region, boundary)
    except MalformedMIMEError:
        return
    chosen = range(len(parts)) if ctype == "multipart/alternative" else range(min(1, len(parts)))
    for i in chosen:
        try:
            child = Entity.content_from_region(parts[i])
        except MailsealError:
            continue
        yield from _walk(child, parts[i], i, limit - 1, parts[i + 1] if i + 1 < len(parts) else None)


def _fields(lines: list[str]) -> tuple[tuple[str, str], ...] | None:
    """The lines as header fields (a folded line continues the one before); None when one is not a field."""
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        m = _FIELD_LINE.match(line.strip())
        if m is None:
            return None
        fields.append((m.group(1), m.group(2).strip()))
    return tuple(fields)


def _charset(part: Entity) -> str:
    charset = part.content_type()[1].get("charset", "utf-8").strip().lower()
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"
    return "utf-8" if charset in ("us-ascii", "ascii") else charset


def _head(part: Entity) -> bytes:
    """The decoded start of the part: enough to hold an element."""
    if part.transfer_encoding() in ("7bit", "8bit", "binary", ""):
        return part.region.read(0, MAX_ELEMENT)
    if part.region.size > MAX_REWRITTEN:
        return b""
    return part.decoded_body()[:MAX_ELEMENT]


def _plain_element(text: str) -> tuple[tuple[tuple[str, str], ...], int] | None:
    """§4.5.3.2: the header-field lines before the first blank line, and where the text after them starts."""
    pos = 0
    lines: list[str] = []
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            return None  # no blank line within the start read: not an element
        line = text[pos:nl].rstrip("\r")
        pos = nl + 1
        if not line.strip():
            break
        lines.append(line)
    fields = _fields(lines)
    return (fields, pos) if fields else None


class _DivFinder(HTMLParser):
    """Finds the legacy display ``div`` (§4.5.3.3) if it comes before any other text: its start and end offsets
    in the fed text and the text inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.start: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None
        self.text: list[str] = []
        self.depth = 0
        self.too_late = False
        self._skipped = 0  # inside <head>, <style>, <script>, <title>: no visible text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.too_late or self.end is not None:
            return
        if tag in ("head", "style", "script", "title"):
            self._skipped += 1
        if tag != "div":
            return
        if self.start is not None:
            self.depth += 1
            return
        classes = next((v or "" for k, v in attrs if k == "class"), "").split()
        if CLASS in classes:
            self.start = self.getpos()
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "style", "script", "title") and self._skipped:
            self._skipped -= 1
        if tag != "div" or self.start is None or self.end is not None:
            return
        self.depth -= 1
        if self.depth == 0:
            self.end = self.getpos()

    def handle_data(self, data: str) -> None:
        if self.start is not None and self.end is None:
            self.text.append(data)
        elif self.start is None and not self._skipped and data.strip():
            self.too_late = True  # visible text before the element: a div further down is the author's own


def _offset(text: str, pos: tuple[int, int]) -> int:
    line, column = pos
    offset = 0
    for _ in range(line - 1):
        offset = text.index("\n", offset) + 1
    return offset + column


def _html_element(raw: bytes, charset: str) -> tuple[tuple[tuple[str, str], ...], int, int] | None:
    """§4.5.3.3: the fields the legacy display div shows, and its byte range in ``raw``."""
    # latin-1 keeps one character per byte (so offsets are byte offsets) and every ASCII tag where it is
    text = raw.decode("latin-1")
    finder = _DivFinder()
    finder.feed(text)
    if finder.start is None or finder.end is None or finder.too_late:
        return None
    begin, close = _offset(text, finder.start), _offset(text, finder.end)
    end = text.find(">", close)
    if end < 0:
        return None
    shown = "".join(finder.text).encode("latin-1", "replace").decode(charset, "replace")
    fields = _fields([ln for ln in shown.splitlines() if ln.strip()])
    return (fields, begin, end + 1) if fields else None


def _encoded(part: Entity, body: bytes) -> bytes:
    """The body in the part's own transfer encoding and line ends."""
    eol = part.line_end()
    cte = part.transfer_encoding()
    if cte == "base64":
        text = base64.b64encode(body)
        return eol.join(text[i:i + 76] for i in range(0, len(text), 76)) + eol
    if cte == "quoted-printable":
        encoded = quopri.encodestring(body.replace(b"\r\n", b"\n"))
        return encoded.replace(b"\n", eol)
    return body


def unmarked(line: bytes) -> bytes:
    """A header line with ``hp-legacy-display`` taken off if it is the Content-Type (a hidden element's mark)."""
    return _MARK.sub(b"", line) if line.partition(b":")[0].strip().lower() == b"content-type" else line


def _unmarked(part: Entity) -> bytes:
    """The part's header block with ``hp-legacy-display`` taken off its Content-Type."""
    eol = part.line_end()
    return b"".join(unmarked(ln) + eol for ln in part.header_lines) + eol


def _rewritten(part: Entity, body: bytes) -> bytes:
    return _unmarked(part) + _encoded(part, body)


def find(payload: Entity) -> tuple[LegacyDisplay, ...]:
    """The legacy display elements of the payload's main body parts; () when it has none."""
    found: list[LegacyDisplay] = []
    parts = list(main_body_parts(payload)) or [(payload, payload.region, -1)]
    for part, whole, index in parts:
        ctype, params = part.content_type()
        if params.get("hp-legacy-display") == "1":
            element = _element(part, whole, ctype)
            if element is not None:
                found.append(element)
        elif index == 0 and ctype == "text/plain" and params.get("protected-headers", "").lower() == "v1":
            element = _draft_part(payload, part, whole)
            if element is not None:
                found.append(element)
    return tuple(found)


def _element(part: Entity, whole: Region, ctype: str) -> LegacyDisplay | None:
    """``whole``: the part's header and body, or for the payload root (whose header block is the message's,
    written by whoever writes the message: ``unmarked``) its body only."""
    head = _head(part)
    at_root = whole == part.region
    small = part.region.size <= MAX_REWRITTEN
    if ctype == "text/plain":
        plain = _plain_element(head.decode(_charset(part), "replace"))
        if plain is None:
            return None
        fields, _ = plain
        # the element's length in bytes: the lines up to the blank line, found again in the raw bytes
        cut = _blank_line_end(head)
        body = part.decoded_body() if small else b""
        return LegacyDisplay("text/plain", fields, whole, whole,
                             _replacement(part, whole, body[cut:]) if small and cut is not None else None, at_root)
    if ctype == "text/html":
        html = _html_element(head, _charset(part))
        if html is None:
            return None
        fields, begin, end = html
        if not small:
            return LegacyDisplay("text/html", fields, whole, whole, None, at_root)
        body = part.decoded_body()
        after = end + (2 if body[end:end + 2] == b"\r\n" else 1 if body[end:end + 1] == b"\n" else 0)
        return LegacyDisplay("text/html", fields, whole, whole, _replacement(part, whole, body[:begin] + body[after:]),
                             at_root)
    return None


def _replacement(part: Entity, whole: Region, body: bytes) -> bytes:
    """What replaces ``whole``: the part rewritten, or only its body when ``whole`` is the payload's body."""
    return _encoded(part, body) if whole == part.region else _rewritten(part, body)


def _blank_line_end(head: bytes) -> int | None:
    m = re.search(rb"\r?\n\r?\n", head)
    if m is None:
        return None
    return m.end() if not head.startswith((b"\n", b"\r\n")) else None


def _draft_part(payload: Entity, part: Entity, whole: Region) -> LegacyDisplay | None:
    """The draft's separate legacy display part: text/plain ``protected-headers="v1"``, first in a multipart/mixed."""
    if part.region.size > MAX_ELEMENT:
        return None
    text = part.decoded_body().decode(_charset(part), "replace")
    fields = _fields([ln for ln in text.splitlines() if ln.strip()])
    if not fields:
        return None
    boundary = payload.content_type()[1].get("boundary", "")
    parts = split_multipart(payload.region, boundary) if boundary else []
    if len(parts) < 2 or parts[0] != whole:
        return LegacyDisplay("part", fields, whole, whole, None)
    # removing [this part's start, the next part's start) drops the part and the delimiter line after it
    return LegacyDisplay("part", fields, whole, Region(whole.file, whole.start, parts[1].start), b"")


def hidden_parts(region: Region, elements: tuple[LegacyDisplay, ...]) -> list[bytes | Region]:
    """``region`` (the payload's body, or a message holding it) with each element hidden (RFC 9788 §4.5.3), as
    pieces to join: the received bytes stay where they are, only the rewritten parts are in memory."""
    pieces: list[bytes | Region] = []
    pos = region.start
    for element in sorted((e for e in elements if e.replacement is not None), key=lambda e: e.replaced.start):
        cut = element.replaced
        if cut.file is not region.file or cut.start < pos or cut.end > region.end:
            continue
        pieces += [Region(region.file, pos, cut.start), element.replacement or b""]
        pos = cut.end
    pieces.append(Region(region.file, pos, region.end))
    return pieces


def hidden_chunks(region: Region, elements: tuple[LegacyDisplay, ...]) -> Iterator[bytes]:
    for piece in hidden_parts(region, elements):
        if isinstance(piece, bytes):
            yield piece
        else:
            yield from piece.chunks()


def hideable(elements: tuple[LegacyDisplay, ...]) -> bool:
    return any(e.replacement is not None for e in elements)


__all__ = ["CLASS", "LegacyDisplay", "find", "hidden_chunks", "hidden_parts", "hideable", "main_body_parts", "unmarked"]

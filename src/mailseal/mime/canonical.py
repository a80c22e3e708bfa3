"""Canonical form before signing (RFC 8551 §3.1): CRLF line ends and 7-bit transfer encodings, in chunks."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import LimitExceededError
from ..streamio import BackgroundHash, Base64Writer, Canonicalizer, LineStats, Region, expect_bulk
from .entity import Entity

if TYPE_CHECKING:
    from email.message import Message

_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
MAX_LINE = 998  # RFC 5322 §2.1.1
MAX_REENCODED_MULTIPART = 256 << 20  # 8-bit multiparts are rebuilt in memory (rare; bounded)
BACKGROUND_HASH_MIN = 4 << 20  # below this a hashing thread costs more than it overlaps

Chunks = Callable[[], Iterator[bytes]]


def to_crlf(data: bytes) -> bytes:
    """Turn bare LF and bare CR into CRLF (RFC 8551 §3.1.1 canonical text)."""
    if b"\n" not in data and b"\r" not in data:
        return data
    return _BARE_CR.sub(b"\r\n", _BARE_LF.sub(b"\r\n", data))



def is_seven_bit(data: bytes) -> bool:
    """True when every byte is 7-bit, there is no NUL, and no line exceeds 998 octets."""
    stats = LineStats()
    stats.feed(data)
    return stats.clean


def default_content_type(seven_bit: bool, utf8: bool) -> bytes:
    """RFC 2045 §5.2 default, but 8-bit bodies that are UTF-8 say so rather than claim US-ASCII."""
    if seven_bit:
        return b"Content-Type: text/plain; charset=us-ascii"
    if utf8:
        return b"Content-Type: text/plain; charset=utf-8"
    return b"Content-Type: application/octet-stream"


def canonical_chunks(region: Region) -> Iterator[bytes]:
    canon = Canonicalizer()
    for chunk in region.chunks():
        yield canon.feed(chunk)
    yield canon.close()


def looks_utf8(sample: bytes) -> bool:
    """True when a sample of the body decodes as UTF-8 (a character cut at the end of the sample is allowed)."""
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 4


def default_entity_header(region: Region, seven_bit: bool | None = None) -> bytes:
    """The Content-Type an entity without one gets, judged from (a sample of) its body."""
    sample = region.read(0, 1 << 16)
    if seven_bit is None:
        stats = LineStats()
        stats.feed(sample)
        seven_bit = stats.seven_bit
    return default_content_type(seven_bit, seven_bit or looks_utf8(sample))


def _replace_cte(lines: list[bytes], cte: bytes) -> bytes:
    kept = [ln for ln in lines if not ln.lower().startswith(b"content-transfer-encoding:")]
    return b"".join(ln + b"\r\n" for ln in kept) + b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n"


def _quoted_printable(region: Region) -> Iterator[bytes]:
    """8-bit text to quoted-printable, one canonical line at a time (binascii does the encoding)."""
    carry = b""
    for chunk in canonical_chunks(region):
        data = carry + chunk
        cut = data.rfind(b"\r\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 2 :]
        lines = data[: cut + 2].split(b"\r\n")[:-1]
        yield b"".join(binascii.b2a_qp(line, quotetabs=False, istext=False).replace(b"=\n", b"=\r\n") + b"\r\n"
                       for line in lines)
    if carry:
        yield binascii.b2a_qp(carry, istext=False).replace(b"=\n", b"=\r\n")


def _base64(region: Region) -> Iterator[bytes]:
    out: list[bytes] = []

    class _Sink:
        def write(self, data: bytes) -> None:
            out.append(data)

    writer = Base64Writer(_Sink())  # type: ignore[arg-type]
    for chunk in region.chunks():
        writer.write(chunk)
        if out:
            yield b"".join(out)
            out.clear()
    writer.close()
    yield b"".join(out)


def _seven_bit_leaf(part: Message) -> None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return
    cte = (part.get("Content-Transfer-Encoding") or "7bit").lower()
    if cte in ("base64", "quoted-printable") or is_seven_bit(to_crlf(payload)):
        return
    del part["Content-Transfer-Encoding"]
    if part.get_content_maintype() == "text":
        import quopri

        part.set_payload(to_crlf(quopri.encodestring(to_crlf(payload))))
        part["Content-Transfer-Encoding"] = "quoted-printable"
    else:
        import base64

        part.set_payload(base64.encodebytes(payload))
        part["Content-Transfer-Encoding"] = "base64"


def canonical_entity_chunks(entity: Entity) -> Chunks:
    """The content entity (Content-* fields + body) in canonical 7-bit CRLF form, as a re-iterable chunk source.

    A first pass over the body decides the form (RFC 8551 §3.1.2: 8-bit text becomes quoted-printable, binary
    becomes base64); the chunks are produced on demand in a second pass, so memory stays bounded.
    """
    return _canonical(entity, None)[0]


def canonical_entity_hashed(
    entity: Entity, h: Any, copy: Callable[[bytes], object] | None = None
) -> tuple[Chunks, bool]:
    """``canonical_entity_chunks``, hashing the entity into ``h`` during the first pass when that is possible.

    True means ``h`` now holds exactly what the chunks will yield, so the second pass only has to copy: the usual
    case, a body already canonical and 7-bit. On False ``h`` holds something else and must be thrown away.
    With ``copy``, the first pass also writes the entity there as it goes (one pass in all when that guess is
    right); on False the caller must take back what ``copy`` received.
    """
    return _canonical(entity, h, copy)


def _canonical(entity: Entity, h: Any, copy: Callable[[bytes], object] | None = None) -> tuple[Chunks, bool]:
    expect_bulk(entity.region.size)
    lines = entity.content_lines()
    hasher: BackgroundHash | None = None
    feed: Callable[[bytes], object] | None = None
    guess = b""
    if h is not None:
        # The head the entity gets when its body needs no re-encoding: hashed first, the body after it.
        guess = _head(lines or [default_entity_header(entity.region, True)])
        h.update(guess)
        if copy is not None:
            copy(guess)
        if entity.region.size >= BACKGROUND_HASH_MIN:
            hasher = BackgroundHash(h)
            feed = hasher.update
        else:
            feed = h.update
    stats = LineStats()
    canon = Canonicalizer()
    try:
        for chunk in entity.region.chunks():
            stats.feed(canon.feed(chunk))
            if feed is not None and not canon.changed:
                feed(chunk)
                if copy is not None:
                    copy(chunk)
        stats.feed(canon.close())
    finally:
        if hasher is not None:
            hasher.close()
    body: Chunks = (lambda: canonical_chunks(entity.region)) if canon.changed else entity.region.chunks
    if not lines:
        lines = [default_entity_header(entity.region, stats.seven_bit)]
    head = _head(lines)
    header_stats = LineStats()
    header_stats.feed(head)
    ctype = entity.content_type()[0] if entity.content_lines() else ""
    if stats.clean and header_stats.seven_bit:
        return (lambda: _prefixed(head, body())), feed is not None and not canon.changed and head == guess
    if not ctype.startswith("multipart/") and not ctype.startswith("message/"):
        if (ctype or "text/plain").startswith("text/") and not stats.has_nul:
            qp_head = _replace_cte(lines, b"quoted-printable")
            return (lambda: _prefixed(qp_head, _quoted_printable(entity.region))), False
        b64_head = _replace_cte(lines, b"base64")
        return (lambda: _prefixed(b64_head, _base64(entity.region))), False
    if entity.region.size > MAX_REENCODED_MULTIPART:
        raise LimitExceededError("an 8-bit multipart larger than 256 MiB cannot be made 7-bit for signing")
    import email
    import email.policy

    raw = to_crlf(head + entity.body)
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        for part in msg.walk():
            if not part.is_multipart():
                _seven_bit_leaf(part)
        rebuilt = to_crlf(msg.as_bytes(policy=email.policy.SMTP.clone(max_line_length=MAX_LINE)))
    except RecursionError:  # the email package recurses once per multipart level
        raise LimitExceededError("the multipart entities nest too deep to be made 7-bit for signing "
                                 "(limits.max_nesting)") from None
    return (lambda: iter([rebuilt])), False


def _head(lines: list[bytes]) -> bytes:
    return b"".join(ln + b"\r\n" for ln in lines) + b"\r\n"


def _prefixed(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def canonical_entity(entity: Entity) -> bytes:
    """The canonical content entity in memory (small messages and tests)."""
    return b"".join(canonical_entity_chunks(entity)())


__all__ = [
    "canonical_chunks",
    "canonical_entity",
    "canonical_entity_chunks",
    "canonical_entity_hashed",
    "default_content_type",
    "default_entity_header",
    "is_seven_bit",
    "looks_utf8",
    "to_crlf",
]

"""Header protection when writing (RFC 9788 §2, §3.3 hcp_baseline): copies of the outer fields in the payload root.

The cryptographic payload's root part carries copies of the user-facing outer header fields and an ``hp``
parameter on its Content-Type: ``hp="clear"`` when only signed, ``hp="cipher"`` when encrypted. For encryption
the default header confidentiality policy (hcp_baseline) replaces the outer Subject with ``[...]`` and the
payload records every outer field it protects, as sent, in an ``HP-Outer`` field (RFC 9788 §2.2).

Only the header block changes: the body stays the input's byte range, so protection keeps streaming.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import UsageError
from ..streamio import Base64Source, Canonicalizer, LineStats
from .canonical import default_entity_header
from .entity import Entity
from .multipart import split_multipart

HP = Literal["clear", "cipher"]

# RFC 9788 §1.1.2 user-facing fields that mailseal protects; Bcc is never copied (RFC 9788 §9.3 and RFC 5322
# §3.6.3: a copy inside the payload would show the blind recipients to every recipient).
PROTECTED_FIELDS = (
    b"from", b"to", b"cc", b"reply-to", b"subject", b"date", b"message-id", b"in-reply-to", b"references",
    b"followup-to",
)
NEVER_COPIED = (b"bcc",)
HP_OUTER = b"hp-outer"
OBSCURED_SUBJECT = b"[...]"  # RFC 9788 §3.3: hcp_baseline's replacement Subject

_HP_PARAM = re.compile(rb';\s*hp\s*=\s*(?:"[^"]*"|[^;\s]*)', re.IGNORECASE)
_CONTENT_TYPE_HP = re.compile(
    rb'(?i)content-type:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*?;\s*hp\s*=\s*"?(clear|cipher)"?'
)
# Not anchored at a line start: inside the BER the content's first field follows an OCTET STRING's length.
_FIRST_CONTENT_TYPE = re.compile(rb"(?i)content-type:")


def field_name(line: bytes) -> bytes:
    return line.partition(b":")[0].strip().lower()


def hcp_baseline(line: bytes) -> bytes | None:
    """RFC 9788 §3.3 hcp_baseline: the outer form of one field; only the Subject is obscured, nothing removed."""
    if field_name(line) == b"subject":
        return b"Subject: " + OBSCURED_SUBJECT
    return line


def _seven_bit(line: bytes) -> bytes:
    """A field fit for the signed or encrypted entity: 7-bit, non-ASCII text in RFC 2047 encoded words.

    Signed content must be 7-bit (RFC 8551 §3.1.2); a raw UTF-8 header (RFC 6532) copied inside would make the
    whole entity 8-bit. The email package encodes display names and unstructured text and leaves addresses.
    """
    if line.isascii():
        return line
    name, _, value = line.partition(b":")
    text = re.sub(r"\r?\n[ \t]", " ", value.decode("utf-8", "replace")).strip()
    try:
        policy = email.policy.SMTP
        folded = policy.header_factory(name.decode("ascii").strip(), text).fold(policy=policy)
    except Exception:  # a malformed structured field: keep the received line rather than refuse the message
        return line
    rendered = folded.rstrip("\r\n").encode("ascii", "replace")
    return rendered if rendered.isascii() else line


def with_hp(content_type: bytes, hp: HP) -> bytes:
    """The Content-Type field with the ``hp`` parameter set (an existing one is replaced)."""
    line = _HP_PARAM.sub(b"", content_type).rstrip(b" \t;")
    last = line.rsplit(b"\n", 1)[-1]
    sep = b";\r\n " if len(last) > 900 else b"; "  # stay under RFC 5322's 998-octet line limit
    return line + sep + b'hp="' + hp.encode() + b'"'


def _seven_bit_body(entity: Entity) -> bool:
    """Whether the canonical body is 7-bit: decides the default Content-Type the way signing does."""
    stats = LineStats()
    canon = Canonicalizer()
    for chunk in entity.region.chunks():
        stats.feed(canon.feed(chunk))
    stats.feed(canon.close())
    return stats.seven_bit


@dataclass(frozen=True)
class PayloadEntity(Entity):
    """The payload root with protected header fields: they count as its own fields, not as outer ones."""

    def is_content_field(self, line: bytes) -> bool:
        name = field_name(line)
        return name in PROTECTED_FIELDS or name == HP_OUTER or super().is_content_field(line)


@dataclass(frozen=True)
class Protected:
    """What header protection makes of a message: the payload root and the outer fields to send."""

    payload: Entity
    outer_lines: tuple[bytes, ...]  # the outer fields (Bcc dropped, hcp applied), without line ends

    def outer_block(self) -> bytes:
        return b"".join(line + b"\r\n" for line in self.outer_lines)


def protect(entity: Entity, hp: HP, *, exact_default: bool = False) -> Protected:
    """Copy the protected outer fields into the entity's header and set ``hp``; for ``cipher`` apply hcp_baseline.

    ``exact_default`` judges the default Content-Type of an entity that has none from the whole body (one more
    pass, as signing does) rather than from its first 64 KiB (as encryption does).
    """
    outer = [ln for ln in entity.outer_lines() if field_name(ln) not in NEVER_COPIED]
    copies = [_seven_bit(ln) for ln in outer if field_name(ln) in PROTECTED_FIELDS]
    content = entity.content_lines()
    if not any(field_name(ln) == b"content-type" for ln in content):
        seven_bit = _seven_bit_body(entity) if exact_default else None
        content = [default_entity_header(entity.region, seven_bit), *content]
    content = [with_hp(ln, hp) if field_name(ln) == b"content-type" else ln for ln in content]
    sent = outer
    hp_outer: list[bytes] = []
    if hp == "cipher":
        sent = [out for ln in outer if (out := hcp_baseline(ln)) is not None]
        # RFC 9788 §2.2: one HP-Outer per protected field as it goes out; a field the policy removed has none.
        hp_outer = [b"HP-Outer: " + _seven_bit(ln) for ln in sent if field_name(ln) in PROTECTED_FIELDS]
    payload = PayloadEntity((*content, *copies, *hp_outer), entity.region)
    return Protected(payload, tuple(sent))


def is_signed(entity: Entity) -> bool:
    """multipart/signed or application/pkcs7-mime signed-data at the root."""
    ctype, params = entity.content_type()
    if ctype == "multipart/signed":
        return True
    return ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime") and (
        params.get("smime-type", "").lower() == "signed-data"
    )


def signed_layer_hp(entity: Entity) -> str | None:
    """The ``hp`` value of the signed layer's content, or None when it carries none."""
    ctype, params = entity.content_type()
    if ctype == "multipart/signed":
        boundary = params.get("boundary")
        parts = split_multipart(entity.region, boundary) if boundary else []
        if not parts:
            return None
        hp = Entity.content_from_region(parts[0]).content_type()[1].get("hp")
        return hp.lower() if hp else None
    # Opaque signed-data: the encapsulated content follows the SignedData's first few dozen octets (RFC 5652
    # §5.1: version, digestAlgorithms, then encapContentInfo), so its header is in the first 64 KiB.
    source = Base64Source(entity.region) if entity.transfer_encoding() == "base64" else entity.region
    head = source.head(1 << 16)
    first = _FIRST_CONTENT_TYPE.search(head)
    found = _CONTENT_TYPE_HP.match(head, first.start()) if first else None
    return found.group(1).decode().lower() if found else None


def protect_signed(entity: Entity) -> Protected:
    """Encrypting a signed message: the signed layer does the protecting (its bytes cannot change), so only the
    outer fields get hcp_baseline. A signed layer without protected fields would lose the Subject: refused."""
    if signed_layer_hp(entity) is None:
        raise UsageError(
            "the message is already signed without header protection: sign it with protect_headers "
            "(--protect-headers) so the real Subject travels inside, or encrypt without protect_headers"
        )
    outer = [ln for ln in entity.outer_lines() if field_name(ln) not in NEVER_COPIED]
    sent = [out for ln in outer if (out := hcp_baseline(ln)) is not None]
    return Protected(entity, tuple(sent))


__all__ = [
    "HP",
    "OBSCURED_SUBJECT",
    "PROTECTED_FIELDS",
    "PayloadEntity",
    "Protected",
    "hcp_baseline",
    "is_signed",
    "protect",
    "protect_signed",
    "signed_layer_hp",
    "with_hp",
]

"""Header fields on the way in (RFC 9788 §4): which header set a reader should show, the protected one inside the
signed or encrypted payload or the outer one, and every difference between them that a reader must be told of.

The cryptographic payload's root carries the protected fields: marked ``hp="clear"``/``hp="cipher"`` (RFC 9788
§2.1), ``protected-headers="v1"`` (the draft it grew from, still written by several clients), or unmarked copies
of From/Subject (RFC 8551 §3.1 lets a signed entity carry them). They are preferred only when the layer around
them holds: a signature that verifies, or a decryption. A field changed outside (the outer From or Subject differs
from the protected one) is a difference, except where the sender's own header confidentiality policy explains it:
an outer field recorded as sent in ``HP-Outer`` (RFC 9788 §2.2), or an obscured Subject of an encrypted message
(``[...]``, the draft's ``...``). A legacy display element (RFC 9788 §4.5.3, in text/plain or text/html; the draft's
``protected-headers="v1"`` text part: ``legacydisplay``) is recognised, and one that disagrees with the protected
fields is a difference too.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .entity import Entity
from .legacydisplay import LegacyDisplay
from .legacydisplay import find as find_legacy_display
from .protection import HP_OUTER, OBSCURED_SUBJECT, PROTECTED_FIELDS, field_name

#: Fields whose change outside is said (addresses a reply goes to, who it is from, what it is about).
COMPARED = ("From", "Sender", "Reply-To", "To", "Cc", "Subject")
#: The user-facing fields a header set lists (RFC 9788 §1.1.2), in display order.
SHOWN = ("From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID")
#: Subjects an encrypting client writes outside in place of the real one.
OBSCURED_SUBJECTS = frozenset({OBSCURED_SUBJECT.decode(), "...", "encrypted message", ""})
ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc"})

Source = Literal["protected", "outer"]


@dataclass(frozen=True)
class HeaderSet:
    """The header set a reader shows: where it comes from, how it was marked, and what differed outside."""

    source: Source
    scheme: str | None = None  # "hp=clear" | "hp=cipher" | "protected-headers=v1" | "unmarked" | None (outer)
    fields: tuple[tuple[str, str], ...] = ()  # the user-facing fields in effect, unfolded
    differences: tuple[str, ...] = ()  # sentences, one per field changed outside
    changed: tuple[str, ...] = ()  # the names (lower case) of the fields changed outside
    legacy_display: bool = False
    protected_lines: tuple[bytes, ...] = ()  # the protected fields as received (for a gateway to restore)
    flags: tuple[str, ...] = ()  # what a reader could be misled by in the fields shown (a display name, ...)
    # the legacy display elements (RFC 9788 §4.5.3) a reader showing this set hides; not in to_dict
    legacy_elements: tuple[LegacyDisplay, ...] = field(default=(), compare=False, repr=False)

    @property
    def hides_legacy_display(self) -> bool:
        """RFC 9788 §4.5.3.2/§4.5.3.3: shown with the protected fields, the legacy display elements are hidden."""
        return self.source == "protected" and any(e.replacement is not None for e in self.legacy_elements)

    @property
    def from_changed(self) -> bool:
        return "from" in self.changed

    def value(self, name: str) -> str | None:
        return next((v for n, v in self.fields if n.lower() == name.lower()), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "scheme": self.scheme,
            "fields": {name: value for name, value in self.fields},
            "differences": list(self.differences),
            "legacy_display": self.legacy_display,
            "legacy_display_forms": sorted({e.kind for e in self.legacy_elements}),
            "flags": list(self.flags),
        }


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded, whitespace collapsed: the form two equal fields share however folded."""
    if "=?" in value:
        import email.header

        with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
            value = str(email.header.make_header(email.header.decode_header(value)))
    return " ".join(value.split())


def _normal(name: str, value: str) -> str:
    if name.lower() in ADDRESS_FIELDS:
        import email.utils

        pairs = email.utils.getaddresses([value])
        return ", ".join(f"{_decoded(n)} <{a.lower()}>" for n, a in pairs)
    return _decoded(value)


def _joined(entity: Entity, name: str) -> str | None:
    values = entity.fields(name)
    return ", ".join(values) if values else None


def scheme_of(payload: Entity) -> str | None:
    """How the payload root marks its protected fields; None when it carries none."""
    params = payload.content_type()[1]
    hp = params.get("hp", "").lower()
    if hp in ("clear", "cipher"):
        return f"hp={hp}"
    if params.get("protected-headers", "").lower() == "v1":
        return "protected-headers=v1"
    if any(field_name(ln) in PROTECTED_FIELDS for ln in payload.header_lines):
        return "unmarked"
    return None


def _hp_outer(payload: Entity) -> dict[str, str]:
    """RFC 9788 §2.2: what the sender put outside, field by field, as HP-Outer recorded it."""
    recorded: dict[str, str] = {}
    for value in payload.fields(HP_OUTER.decode()):
        name, sep, rest = value.partition(":")
        if sep:
            recorded.setdefault(name.strip().lower(), rest.strip())
    return recorded


def _explained(name: str, outer: str, recorded: dict[str, str], encrypted: bool) -> bool:
    """Whether the sender's header confidentiality policy explains an outer value that differs."""
    key = name.lower()
    if key in recorded and _normal(name, recorded[key]) == _normal(name, outer):
        return True
    return encrypted and key == "subject" and _decoded(outer).lower() in OBSCURED_SUBJECTS


def header_set(root: Entity, payload: Entity, *, sound: bool, encrypted: bool) -> HeaderSet:
    """The header set of a message whose S/MIME layers were removed down to ``payload``.

    ``sound``: the layers around the payload hold (every signature over it intact, or it was decrypted), so its
    protected fields can be believed. ``encrypted``: an encryption layer was removed (an obscured Subject is
    then expected outside).
    """
    outer_fields = tuple((n, v) for n in SHOWN if (v := _joined(root, n)) is not None)
    scheme = scheme_of(payload) if payload is not root else None
    if scheme is None:
        return HeaderSet("outer", None, outer_fields, flags=display_name_flags(outer_fields))
    if not sound:
        return HeaderSet("outer", scheme, outer_fields, (
            "the protected header fields are not used: the layer around them does not verify",),
            flags=display_name_flags(outer_fields))
    recorded = _hp_outer(payload)
    differences: list[str] = []
    changed: list[str] = []
    for name in COMPARED:
        inner, outer = _joined(payload, name), _joined(root, name)
        if inner is None or outer is None or _normal(name, inner) == _normal(name, outer):
            continue
        if _explained(name, outer, recorded, encrypted):
            continue
        changed.append(name.lower())
        differences.append(f"the outer {name} ({_decoded(outer)[:120]}) differs from the protected {name} "
                           f"({_decoded(inner)[:120]}): it was changed outside the protected message")
    if _joined(payload, "From") is None and _joined(root, "From") is not None and scheme.startswith("hp="):
        differences.append("the protected header fields carry no From: the outer From is not protected")
    legacy = find_legacy_display(payload)
    for element in legacy:
        where = "part" if element.kind == "part" else f"element ({element.kind})"
        seen: set[str] = set()
        for shown_name, shown in element.fields:
            name = shown_name.title()
            inner = _joined(payload, name)
            if name.lower() in seen or inner is None or _normal(name, shown) == _normal(name, inner):
                continue
            seen.add(name.lower())
            differences.append(f"the legacy display {where} shows a {name} ({_decoded(shown)[:120]}) that is not "
                               f"the protected {name} ({_decoded(inner)[:120]})")
    fields = tuple((n, v) for n in SHOWN if (v := _joined(payload, n) or _joined(root, n)) is not None)
    protected = tuple(ln for ln in payload.header_lines if field_name(ln) in PROTECTED_FIELDS)
    return HeaderSet("protected", scheme, fields, tuple(differences), tuple(changed), bool(legacy), protected,
                     display_name_flags(fields), legacy)


_ADDRESS_LIKE = re.compile(r"[^\s<>\"@,;:()]+@[^\s<>\"@,;:()]+\.[^\s<>\"@,;:()]+")


def display_name_flags(fields: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """A display name that looks like an address other than the field's own (``"boss@corp.example"
    <eve@evil.example>``): many clients show only the display name, so the reader sees boss. The address is
    eve's, and the signer is held to it; the display name is said (Johnny You Are Fired §5.2)."""
    import email.utils

    flags = []
    for name, value in fields:
        if name.lower() not in ("from", "sender", "reply-to"):
            continue
        for display, address in email.utils.getaddresses([value]):
            shown = {a.lower() for a in _ADDRESS_LIKE.findall(_decoded(display))}
            if shown - {address.lower()}:
                flags.append(f"the {name} display name shows the address {sorted(shown)[0]}, but the {name} address "
                             f"is {address}: the display name is not who sent it")
    return tuple(flags)


def compared_with(outer: Entity, headers: HeaderSet) -> HeaderSet:
    """``headers`` read from a decrypted copy, compared again with the fields of the encrypted message as it came
    (a gateway delivers the decrypted copy, whose header already holds the protected fields)."""
    if headers.source != "protected":
        return headers
    differences, changed = list(headers.differences), list(headers.changed)
    for name in COMPARED:
        inner, out = headers.value(name), _joined(outer, name)
        if inner is None or out is None or name.lower() in changed or _normal(name, inner) == _normal(name, out):
            continue
        if _explained(name, out, {}, True):
            continue
        changed.append(name.lower())
        differences.append(f"the outer {name} ({_decoded(out)[:120]}) differs from the protected {name} "
                           f"({_decoded(inner)[:120]}): it was changed outside the protected message")
    return replace(headers, differences=tuple(differences), changed=tuple(changed))


def decrypted_header_set(outer: Entity, decrypted: Entity) -> HeaderSet:
    """The header set of a decrypted copy (the encrypted message's outer fields merged with the decrypted
    entity's, as ``decrypt`` writes it), compared with the fields the encrypted message came with. Protected only
    when the decrypted entity marks its fields (``hp`` or ``protected-headers``): merged outer fields alone are
    the message's own."""
    params = decrypted.content_type()[1]
    if params.get("hp", "").lower() not in ("clear", "cipher") and params.get("protected-headers", "").lower() != "v1":
        return HeaderSet("outer", None, tuple((n, v) for n in SHOWN if (v := _joined(outer, n)) is not None))
    return header_set(outer, decrypted, sound=True, encrypted=True)


def note(headers: HeaderSet) -> str:
    """One sentence for a stamp: which header set the delivered copy shows, and what differed outside."""
    scheme = f", {headers.scheme}" if headers.scheme else ""
    text = f"header fields: {headers.source}{scheme}"
    if headers.changed:
        text += "; changed outside: " + ", ".join(headers.changed)
    if headers.flags:
        text += "; display name looks like another address"
    return text


def restored_lines(lines: Sequence[bytes], headers: HeaderSet) -> list[bytes]:
    """Outer header lines with each field changed outside put back as the protected set has it (a gateway's
    delivered copy then shows what the signature covers)."""
    if headers.source != "protected" or not headers.changed:
        return list(lines)
    names = {n.encode() for n in headers.changed}
    kept = [ln for ln in lines if field_name(ln) not in names]
    return [*kept, *(ln for ln in headers.protected_lines if field_name(ln) in names)]


__all__ = ["COMPARED", "SHOWN", "HeaderSet", "compared_with", "decrypted_header_set", "display_name_flags", "header_set", "note", "restored_lines", "scheme_of"]

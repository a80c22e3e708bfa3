"""A signer's certificate chain drawn as a self-contained SVG: leaf, intermediates, anchor, with arrows.

Hand-made, no library. The console's Content-Security-Policy forbids inline styles and scripts, so the drawing
uses presentation attributes (fill, stroke) and classes only, never ``style=``, ``<script>`` or
``<foreignObject>``. Every text from a certificate is hostile until shown otherwise: control and bidirectional
formatting characters are made visible (``[U+202E]``) so a name cannot reorder the text around it, and everything
is XML-escaped. The state of each certificate is an icon and a word, never a colour alone.
"""

from __future__ import annotations

import html
import re

from .report_view import ChainEntry, SignerView
from .report_words import BAD, GOOD, WARN, State

WIDTH = 560
BOX_H = 104
GAP = 34
PAD = 10
MAX_CHARS = 66

# C0/C1 controls (not allowed or not meaningful in XML text) and the bidirectional formatting characters.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_FILL = {GOOD: "#1a7f37", WARN: "#9a6700", BAD: "#cf222e"}
_NEUTRAL = "#57606a"


def visible(text: str) -> str:
    """The text with control and bidi formatting characters shown as ``[U+XXXX]`` (not yet escaped)."""
    return _HIDDEN.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)


def _x(text: str) -> str:
    """Visible and XML-escaped, quotes included (safe in text and in attribute values)."""
    return html.escape(visible(text), quote=True)


def _short(text: str, limit: int = MAX_CHARS) -> str:
    shown = visible(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "\u2026"


def _icon(state: State, x: float, y: float) -> str:
    """A 16 px symbol for the state at (x, y): check, cross, warning triangle, question, info, lock."""
    colour = _FILL.get(state.tone, _NEUTRAL)
    ring = f'<circle cx="{x + 8}" cy="{y + 8}" r="8" fill="{colour}" class="icon-bg"/>'
    mark = {
        "check": f'<path d="M{x + 4} {y + 8.5} l3 3 l5 -6" fill="none" stroke="#ffffff" stroke-width="2"/>',
        "cross": f'<path d="M{x + 5} {y + 5} l6 6 M{x + 11} {y + 5} l-6 6" stroke="#ffffff" stroke-width="2"/>',
        "question": f'<text x="{x + 8}" y="{y + 12.5}" text-anchor="middle" font-size="12" fill="#ffffff">?</text>',
        "info": f'<text x="{x + 8}" y="{y + 12.5}" text-anchor="middle" font-size="12" fill="#ffffff">i</text>',
        "lock": (f'<rect x="{x + 4.5}" y="{y + 7.5}" width="7" height="5" fill="#ffffff"/>'
                 f'<path d="M{x + 6} {y + 7.5} v-2 a2 2 0 0 1 4 0 v2" fill="none" stroke="#ffffff"/>'),
    }
    if state.icon == "warning":
        return (f'<g class="icon icon-{state.tone}" aria-hidden="true"><path d="M{x + 8} {y} L{x + 16} {y + 16} '
                f'L{x} {y + 16} Z" fill="{colour}"/><text x="{x + 8}" y="{y + 14}" text-anchor="middle" '
                f'font-size="11" fill="#ffffff">!</text></g>')
    return f'<g class="icon icon-{state.tone}" aria-hidden="true">{ring}{mark.get(state.icon, "")}</g>'


def _line(x: float, y: float, text: str, cls: str, size: int = 12, weight: str = "normal") -> str:
    return (f'<text x="{x}" y="{y}" class="{cls}" font-size="{size}" font-weight="{weight}" '
            f'fill="#1f2328">{_x(text)}</text>')


def _worst(entry: ChainEntry) -> State:
    for state in (entry.validity, entry.revocation):
        if state.tone == BAD:
            return state
    for state in (entry.validity, entry.revocation):
        if state.tone == WARN:
            return state
    return entry.validity


def _box(entry: ChainEntry, y: float) -> str:
    cert = entry.cert
    state = _worst(entry)
    colour = _FILL.get(state.tone, _NEUTRAL)
    name = cert.subject
    summary = (f"{entry.role}: {name}. Valid {cert.not_before} to {cert.not_after}: {entry.validity.word}. "
               f"Revocation: {entry.revocation.word}. {entry.trust}.")
    x = PAD + 28
    parts = [
        f'<g class="cert cert-{state.tone}" role="listitem" aria-label="{_x(summary)}">',
        f"<title>{_x(summary)}</title>",
        f'<rect x="{PAD}" y="{y}" width="{WIDTH - 2 * PAD}" height="{BOX_H}" rx="6" fill="#ffffff" '
        f'stroke="{colour}" stroke-width="2" class="cert-box"/>',
        _icon(state, PAD + 8, y + 9),
        _line(x, y + 21, f"{entry.role} \u2014 {state.word}", "cert-role", 13, "bold"),
        _line(x, y + 40, _short(name), "cert-name"),
        _line(x, y + 58, f"Valid {cert.not_before} \u2192 {cert.not_after} ({entry.validity.word})", "cert-dates"),
        _line(x, y + 76, f"Revocation: {entry.revocation.word}", "cert-revocation"),
        _line(x, y + 94, _short(entry.trust), "cert-trust"),
        "</g>",
    ]
    return "".join(parts)


def _arrow(y: float) -> str:
    mid = WIDTH / 2
    return (f'<g class="chain-arrow" aria-hidden="true"><path d="M{mid} {y + 3} v{GAP - 12}" stroke="{_NEUTRAL}" '
            f'stroke-width="2"/><path d="M{mid - 6} {y + GAP - 11} l6 8 l6 -8 Z" fill="{_NEUTRAL}"/>'
            f'<text x="{mid + 12}" y="{y + GAP / 2 + 4}" font-size="11" fill="{_NEUTRAL}">issued by</text></g>')


def _missing(y: float, note: str, anchor_shown: bool) -> str:
    state = State(BAD, "cross", "Path refused by the verifier" if anchor_shown else "No trusted anchor reached")
    return (f'<g class="cert cert-missing" role="listitem" aria-label="{_x(state.word + ". " + note)}">'
            f"<title>{_x(note)}</title>"
            f'<rect x="{PAD}" y="{y}" width="{WIDTH - 2 * PAD}" height="{BOX_H / 2}" rx="6" fill="#ffffff" '
            f'stroke="{_FILL[BAD]}" stroke-width="2" stroke-dasharray="6 4" class="cert-box"/>'
            f"{_icon(state, PAD + 8, y + 9)}{_line(PAD + 28, y + 21, state.word, 'cert-role', 13, 'bold')}"
            f"{_line(PAD + 28, y + 40, _short(note, 80), 'cert-note', 11)}</g>")


def chain_svg(signer: SignerView, *, svg_id: str | None = None) -> str:
    """The SVG document (a string, well-formed XML) for one signer's chain, leaf at the top."""
    sid = svg_id or f"chain-{signer.index}"
    entries = signer.chain
    boxes: list[str] = []
    y = float(PAD)
    for i, entry in enumerate(entries):
        if i:
            boxes.append(_arrow(y - GAP))
        boxes.append(_box(entry, y))
        y += BOX_H + GAP
    if not signer.chain_complete:
        if entries:
            boxes.append(_arrow(y - GAP))
        boxes.append(_missing(y, signer.chain_note, bool(entries) and entries[-1].role == "Trust anchor"))
        y += BOX_H / 2 + GAP
    height = int(y - GAP + PAD)
    label = (f"Certificate chain of signer {signer.index} ({signer.label}): "
             + " \u2192 ".join(f"{e.role} {e.cert.subject}" for e in entries)
             + ("" if signer.chain_complete else " \u2192 no trusted anchor reached"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{_x(sid)}" class="chain-svg" role="img" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
            f'aria-label="{_x(label)}" font-family="sans-serif">'
            f'<title id="{_x(sid)}-title">{_x(label)}</title><g role="list">{"".join(boxes)}</g></svg>')


__all__ = ["chain_svg", "visible"]

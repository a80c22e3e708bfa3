"""Human-readable rendering of a Report for the terminal (the JSON form is Report.to_dict())."""

from __future__ import annotations

import re
from typing import Any

from ..mime.report import Report, SignerResult, SignerStatus

STATUS_WORDS: dict[SignerStatus, str] = {
    SignerStatus.VALID: "VALID",
    SignerStatus.INVALID_SIGNATURE: "INVALID: the signature does not match the content",
    SignerStatus.UNKNOWN_SIGNER: "INVALID: the signer's certificate is missing or cannot be read",
    SignerStatus.UNSUPPORTED_ALGORITHM: "NOT CHECKED: the signature algorithm is not supported or out of profile",
    SignerStatus.UNTRUSTED: "NOT TRUSTED: the signer's certificate does not chain to a trusted root",
    SignerStatus.EXPIRED: "NOT VALID: a certificate has expired",
    SignerStatus.NOT_YET_VALID: "NOT VALID: a certificate is not yet valid",
    SignerStatus.REVOKED: "NOT VALID: a certificate is revoked",
    SignerStatus.ADDRESS_MISMATCH: "NOT VALID: the signer is not the sender (From)",
    SignerStatus.WEAK_ALGORITHM: "WEAK: a weak algorithm or key protects the signature",
    SignerStatus.REVOCATION_UNKNOWN: "NOT VALID: the revocation status could not be established (hard-fail)",
    SignerStatus.USAGE_NOT_ALLOWED: "NOT VALID: the certificate may not sign e-mail",
    SignerStatus.NOT_SIGNED: "the message is not signed",
}

#: What the text shows for a certificate name that cannot be parsed (the signer's reasons say why).
UNREADABLE = "(cannot be parsed)"


def _signer(index: int, s: SignerResult) -> list[str]:
    fields = s.fields
    who = fields.label if fields else "unknown"
    verdict = STATUS_WORDS.get(s.status, s.status)
    if s.status == SignerStatus.VALID and s.revocation == "unknown":
        verdict = "VALID, revocation unknown"
    lines = [f"  signer {index}: {who}: {verdict}"]
    if fields is not None:
        lines.append(f"    subject:   {UNREADABLE if fields.subject is None else fields.subject}")
        lines.append(f"    issuer:    {UNREADABLE if fields.issuer is None else fields.issuer}")
        lines.append(f"    serial:    {fields.serial}")
    lines.append(f"    algorithm: {s.digest_algorithm} / {s.signature_algorithm}")
    if s.signing_time is not None:
        lines.append(f"    signed at: {s.signing_time.isoformat()}")
    lines.extend(f"    - {reason}" for reason in s.reasons)
    return lines


def render(report: Report) -> str:
    out: list[str] = []
    for depth, layer in enumerate(report.layers, 1):
        if layer.kind == "signed":
            out.append(f"layer {depth}: signed ({layer.form}), covers {layer.covers}: {layer.status}")
            for i, s in enumerate(layer.signers, 1):
                out.extend(_signer(i, s))
        elif not layer.opened:
            out.append(f"layer {depth}: encrypted ({layer.kind}), not opened: no key here for "
                       f"{', '.join(layer.recipients) or 'its recipients'}")
        else:
            protected = "integrity protected" if layer.integrity_protected else "integrity NOT protected by the cipher"
            out.append(
                f"layer {depth}: encrypted ({layer.kind}, {layer.content_algorithm}, key {layer.key_algorithm}, "
                f"recipient {(layer.recipient_index or 0) + 1} of {layer.recipient_count}; {protected})"
            )
    if not report.layers:
        out.append("no S/MIME protection at the root of the message")
    out.append(f"signed: {'yes' if report.signed else 'no'}; encrypted: {'yes' if report.encrypted else 'no'}; "
               f"status: {report.status}")
    if report.headers is not None and report.layers:
        scheme = f" ({report.headers.scheme})" if report.headers.scheme else ""
        out.append(f"header fields: {report.headers.source}{scheme}")
    data = report.to_dict()
    out.extend(f"warning: {w}" for w in data["warnings"])
    out.extend(f"nested part (not protecting the message): {p}" for p in report.nested_parts)
    return "\n".join(terminal_safe(line) for line in out)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """One line for a terminal: control characters from certificates or header fields (CR, LF, ESC of an ANSI
    colour sequence) shown as escapes, so that no field can print a line, a colour or a cursor move of its own."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _scalar(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _tree(value: dict[str, Any], indent: int) -> list[str]:
    """Nested dicts and lists as indented lines: a list of short plain values on one line, a list of records or
    of names (which hold commas) as "- " items, so that the text form never shows JSON (``--json`` does)."""
    pad = " " * indent
    out: list[str] = []
    for key, item in value.items():
        label = key
        if isinstance(item, dict):
            out.append(f"{pad}{label}:")
            out.extend(_tree(item, indent + 2))
        elif isinstance(item, list) and any(isinstance(x, dict | list) or "," in str(x) for x in item):
            out.append(f"{pad}{label}:")
            for element in item:
                lines = _tree(element, indent + 4) if isinstance(element, dict) else [f"{pad}    {_scalar(element)}"]
                if lines:
                    out.append(f"{pad}  - {lines[0].lstrip()}")
                    out.extend(lines[1:])
        elif isinstance(item, list):
            out.append(f"{pad}{label}: {', '.join(_scalar(x) for x in item) or '(none)'}")
        else:
            out.append(f"{pad}{label}: {_scalar(item)}")
    return out


def render_layers(layers: list[dict[str, Any]]) -> str:
    """The text form of ``inspect``: one block per layer, nested fields indented."""
    out: list[str] = []
    for depth, layer in enumerate(layers, 1):
        out.append(f"layer {depth}:")
        out.extend(_tree(layer, 2))
    if not layers:
        out.append("no layers")
    return "\n".join(out)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns aligned under a header line (two spaces apart; the last column is not padded)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


__all__ = ["render", "render_layers", "table"]

"""Inbound results written into the message header: Authentication-Results (RFC 8601, method ``smime`` of
RFC 7281) and subject tags; and removal of any such stamp that arrived from outside (RFC 8601 §5)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..mime.report import Report, SignerStatus
from .portal import PASSWORD_FIELD

# What each signer status becomes in the smime method's result vocabulary (RFC 7281 §3).
# "policy": the signature is intact but our rules refuse what it stands for (untrusted, expired, revoked, ...).
RESULTS: dict[SignerStatus, str] = {
    SignerStatus.VALID: "pass",
    SignerStatus.INVALID_SIGNATURE: "fail",
    SignerStatus.UNKNOWN_SIGNER: "permerror",
    SignerStatus.UNSUPPORTED_ALGORITHM: "permerror",
    SignerStatus.REVOCATION_UNKNOWN: "temperror",
}
_SAFE_VALUE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+")
_AUTHSERV = re.compile(rb"^\s*(?:\([^)]*\)\s*)*([^\s;()]+)")


def _field_name(line: bytes) -> bytes:
    return line.partition(b":")[0].strip().lower()


def authserv_id(line: bytes) -> str:
    """The authserv-id of an Authentication-Results field (comments before it skipped)."""
    value = re.sub(rb"\r?\n[ \t]", b" ", line.partition(b":")[2])
    m = _AUTHSERV.match(value)
    return m.group(1).decode("ascii", "replace").lower() if m else ""


def comment(text: str) -> str:
    """Text from a certificate or a reason, made safe inside an RFC 5322 comment: no line breaks, no control
    characters, parentheses and backslashes escaped, non-ASCII replaced."""
    cleaned = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    cleaned = cleaned.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return cleaned[:200]


def _value(text: str) -> str:
    """A property value: a plain token when it is one, else a quoted string with escapes."""
    if _SAFE_VALUE.fullmatch(text):
        return text
    safe = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return '"' + safe.replace("\\", "\\\\").replace('"', '\\"')[:200] + '"'


def smime_result(report: Report) -> tuple[str, str | None, str]:
    """(result, signer address, reason) for the message's signature."""
    if not report.signed:
        return "none", None, "the message carries no S/MIME signature"
    signer = next((s for s in report.signers if s.status == report.status), report.signers[0])
    address = signer.emails[0] if signer.emails else None
    result = RESULTS.get(report.status, "policy")
    reason = "; ".join(signer.reasons) if signer.reasons else signer.status
    return result, address, reason


def authentication_results(authserv: str, report: Report | None, *, note: str | None = None,
                           error: str | None = None, headers: str | None = None) -> bytes:
    """One Authentication-Results field (CRLF-terminated, folded) for the report; ``error`` when the signature
    could not be read at all (result ``permerror``); ``headers`` says which header set the copy shows (RFC 9788),
    in a comment of its own so that a long reason never cuts it off."""
    if error is not None:
        result, address, reason = "permerror", None, error
    elif report is None:
        result, address, reason = "none", None, note or "not verified"
    else:
        result, address, reason = smime_result(report)
        if note:
            reason = f"{reason}; {note}"
    parts = [f"Authentication-Results: {authserv};", f" smime={result}"]
    if address:
        parts.append(f" body.smime-identifier={_value(address)}")
    if report is not None and report.signed:
        parts.append(" body.smime-part=1")
    parts.append(f" ({comment(reason)})")
    if headers:
        parts.append(f" ({comment(headers)})")
    out, line = [], ""
    for piece in parts:
        if line and len(line) + len(piece) > 76:
            out.append(line)
            line = "\t" + piece.lstrip()
        else:
            line += piece
    out.append(line)
    return ("\r\n".join(out) + "\r\n").encode("ascii")


_PORTAL_PASSWORD = PASSWORD_FIELD.lower().encode()


def without_our_stamps(lines: Iterable[bytes], authserv: str, tags: Sequence[str]) -> list[bytes]:
    """Header lines with every Authentication-Results of our authserv-id removed, our subject tags taken off the
    Subject (they could only have been forged by the sender), and the portal password field removed (it is for the
    gateway only, docs/portal.md)."""
    out = []
    ours = authserv.lower()
    for line in lines:
        name = _field_name(line)
        if name == b"authentication-results" and authserv_id(line) == ours:
            continue
        if name == _PORTAL_PASSWORD:
            continue
        if name == b"subject" and tags:
            line = _untag(line, tags)
        out.append(line)
    return out


def _untag(line: bytes, tags: Sequence[str]) -> bytes:
    """The Subject without our tags at its start: also where the sender wrote them as RFC 2047 encoded words,
    which the recipient's client decodes to the same text (``=?utf-8?q?=5Bsigned=5D?=`` shows "[signed]")."""
    name, _, value = line.partition(b":")
    text = value.decode("utf-8", "surrogateescape")
    if "=?" in text:
        decoded = _decoded_subject(text)
        stripped = _strip_tags(decoded, tags)
        if stripped != decoded:
            return name + b": " + _encoded_subject(stripped.strip())
    return name + b":" + _strip_tags(text, tags).encode("utf-8", "surrogateescape")


def _strip_tags(text: str, tags: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        stripped = text.lstrip()
        for tag in tags:
            if tag and stripped.lower().startswith(tag.lower()):
                text = " " + stripped[len(tag):].lstrip()
                changed = True
    return text


def _decoded_subject(text: str) -> str:
    import email.header

    try:
        return str(email.header.make_header(email.header.decode_header(re.sub(r"\r?\n[ \t]", " ", text))))
    except (ValueError, LookupError, UnicodeDecodeError):
        return text


def _encoded_subject(text: str) -> bytes:
    """The Subject's value as written back: plain ASCII as it is, anything else in RFC 2047 encoded words."""
    if text.isascii():
        return text.encode("ascii")
    import email.header

    return email.header.Header(text, "utf-8").encode().encode("ascii")


def tag_subject(lines: list[bytes], tag: str) -> list[bytes]:
    """Prefix the Subject with the tag (adding a Subject when there is none)."""
    for i, line in enumerate(lines):
        if _field_name(line) == b"subject":
            name, _, value = line.partition(b":")
            lines = list(lines)
            lines[i] = name + b": " + tag.encode() + b" " + value.lstrip()
            return lines
    return [*lines, b"Subject: " + tag.encode()]


def rewrite_subject(lines: list[bytes], subject: str) -> list[bytes]:
    """Replace the Subject's value (used to remove a policy trigger such as ``[secure]``)."""
    out = []
    for line in lines:
        if _field_name(line) == b"subject":
            line = b"Subject: " + subject.encode("utf-8")
        out.append(line)
    return out


def drop_fields(lines: Iterable[bytes], names: Iterable[str]) -> list[bytes]:
    wanted = {n.lower().encode() for n in names}
    return [ln for ln in lines if _field_name(ln) not in wanted]


__all__ = [
    "authentication_results",
    "authserv_id",
    "comment",
    "drop_fields",
    "rewrite_subject",
    "smime_result",
    "tag_subject",
    "without_our_stamps",
]

"""The verify page's view of a Report: layers outermost first, what each signature covers and does not, signers.

A pure function of the Report the verifier returned (``mailseal.verify``/``open``), the message's From and Date,
and the time the page is made: nothing is verified again here, so the page says what the gateway and the CLI say.
A message that is not signed at its root is never shown "valid", whatever its parts carry (RFC 8551 §3.1: a
signature covers the entity it is attached to, not what lies around it).
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import MailsealError
from ..mime.entity import Entity
from ..mime.report import Layer, Report, SignerResult, worst_status
from ..pki.profile import email_matches
from ..pki.status import SignerStatus
from .report_certs import revocation_method, revocation_time
from .report_chain import ChainEntry, chain_entries
from .report_words import (
    BAD,
    GOOD,
    NEUTRAL,
    NOT_SIGNED_SENTENCE,
    REVOCATION_SOFT,
    REVOCATION_STATES,
    STATUS_STATES,
    WARN,
    State,
    sentence,
)

CLAIMED = "claimed by the signer"
OUTER_FIELDS = ("the header fields outside the signed part (From, To, Subject, Date): only copies inside the "
                "signed part, if the sender protected them, are covered")
SIGNED_PART_TYPES = ("multipart/signed", "application/pkcs7-mime", "application/x-pkcs7-mime",
                     "application/pkcs7-signature")


@dataclass(frozen=True)
class MessageHeaders:
    """The root header fields the page shows beside the signature (decoded text, None when absent)."""

    from_header: str | None = None
    date_header: str | None = None
    subject: str | None = None

    @property
    def from_address(self) -> str | None:
        """The one From address, or None when there is none or more than one (then no signer can match it)."""
        found = [addr for _, addr in email.utils.getaddresses([self.from_header or ""]) if addr]
        return found[0] if len(found) == 1 else None


def message_headers(message: bytes) -> MessageHeaders:
    """From, Date and Subject of a message (the unwrapped ``Opened.message`` shows the protected ones)."""
    try:
        entity = Entity.parse(message)
    except MailsealError:
        return MessageHeaders()
    return MessageHeaders(entity.field("From"), entity.field("Date"), entity.field("Subject"))


@dataclass(frozen=True)
class Revocation:
    state: State
    method: str
    time: str | None
    detail: tuple[str, ...]


@dataclass(frozen=True)
class SignerView:
    index: int
    status: str
    state: State
    sentence: str
    label: str  # who the certificate names: its addresses, else its subject
    emails: tuple[str, ...]
    signed_by: str | None  # shown above From when the certificate does not name the From address (as Outlook does)
    address_matches: bool | None
    validation_type: str
    signing_time: str | None  # "claimed by the signer": a signed attribute, not a trusted timestamp
    digest_algorithm: str
    signature_algorithm: str
    revocation: Revocation
    chain: tuple[ChainEntry, ...]
    chain_complete: bool
    chain_note: str
    reasons: tuple[str, ...]  # the verifier's own sentences
    fingerprint: str | None


@dataclass(frozen=True)
class Encryption:
    content_algorithm: str
    key_algorithm: str
    recipient: str
    authenticated: bool
    state: State
    sentence: str


@dataclass(frozen=True)
class LayerView:
    depth: int
    kind: str  # "signed" | "encrypted"
    title: str
    state: State
    covers: str
    not_covered: tuple[str, ...]
    counts: bool  # whether this layer is the signature that counts for the message
    signers: tuple[SignerView, ...] = ()
    encryption: Encryption | None = None


@dataclass(frozen=True)
class ReportView:
    verdict: State
    headline: str
    explanation: tuple[str, ...]
    status: str
    signed: bool
    encrypted: bool
    integrity: State
    headers: MessageHeaders
    layers: tuple[LayerView, ...]
    nested_parts: tuple[str, ...]
    warnings: tuple[str, ...]
    content_type: str
    header_fields: str = ""  # which header set the From/Subject/Date above come from (RFC 9788 §4)


def _header_fields(report: Report) -> str:
    headers = report.headers
    if headers is None or not report.layers:
        return ""
    if headers.source == "outer":
        return "the message's own (not protected by the signature or encryption)"
    inside = "encryption" if report.encrypted else "signature"
    return f"protected inside the {inside} ({headers.scheme})"


def _state(status: SignerStatus, revocation: str) -> State:
    if status == SignerStatus.VALID and revocation == "unknown":
        return State(GOOD, "check", "Valid, revocation unknown")
    return STATUS_STATES.get(status, State(BAD, "cross", str(status)))


def signer_view(index: int, s: SignerResult, headers: MessageHeaders, at: datetime,
                sources: Mapping[str, str]) -> SignerView:
    chain, complete, note = chain_entries(s, at, sources)
    leaf = chain[0].cert if chain and s.certificate is not None else None
    fields = s.fields
    label = fields.label if fields else "unknown signer"
    address = headers.from_address
    matches = None if s.certificate is None or address is None else email_matches(address, s.certificate)
    signed_by = None if matches else label
    revocation = Revocation(
        REVOCATION_STATES.get(s.revocation, REVOCATION_STATES["not-checked"]),
        revocation_method(s.revocation, s.reasons, leaf), revocation_time(s.reasons),
        tuple(r for r in s.reasons if "revo" in r.lower()),
    )
    words = sentence(s.status, s.reasons, leaf.validity if leaf else "valid")
    if s.status == SignerStatus.VALID and s.revocation == "unknown":
        words = REVOCATION_SOFT
    return SignerView(
        index=index, status=str(s.status), state=_state(s.status, s.revocation), sentence=words, label=label,
        emails=tuple(fields.emails) if fields else (), signed_by=signed_by, address_matches=matches,
        validation_type=(leaf.validation_type if leaf else None) or "not stated (no CA/B Forum S/MIME policy)",
        signing_time=s.signing_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if s.signing_time else None,
        digest_algorithm=s.digest_algorithm, signature_algorithm=s.signature_algorithm, revocation=revocation,
        chain=chain, chain_complete=complete, chain_note=note, reasons=s.reasons,
        fingerprint=leaf.fingerprint_sha256 if leaf else None,
    )


def _encryption(layer: Layer) -> Encryption:
    aead = bool(layer.integrity_protected)
    recipient = (f"recipient {(layer.recipient_index or 0) + 1} of {layer.recipient_count}"
                 if layer.recipient_count else "recipient unknown")
    if aead:
        state = State(GOOD, "lock", "Authenticated encryption (AEAD)")
        words = "The cipher detects any change to the encrypted content (authenticated encryption)."
    else:
        state = State(WARN, "warning", "Malleable: CBC without authentication")
        words = ("The cipher does not detect changes: CBC ciphertext can be altered without the recipient "
                 "noticing; only a valid signature inside protects the content.")
    return Encryption(layer.content_algorithm or "unknown", layer.key_algorithm or "unknown", recipient, aead,
                      state, words)


def _layer(depth: int, layer: Layer, report: Report, headers: MessageHeaders, at: datetime,
           sources: Mapping[str, str]) -> LayerView:
    outer = ("the encryption around it: a signature inside encryption does not show who encrypted the message "
             "or for whom (anyone holding it could have encrypted it again)",) if depth > 1 else ()
    if layer.kind != "signed" and not layer.opened:
        for_whom = ", ".join(layer.recipients) or "recipients the console holds no key for"
        return LayerView(depth, "encrypted", f"Encrypted ({layer.kind}, {layer.form}), not opened",
                         State(NEUTRAL, "lock", "Not opened: no key here"),
                         f"everything inside it; encrypted for {for_whom}",
                         ("the header fields outside it, which travel in the clear",
                          "what it holds was not seen: a signature inside it was not checked"), False)
    if layer.kind != "signed":
        enc = _encryption(layer)
        return LayerView(depth, "encrypted", f"Encrypted ({layer.kind}, {layer.form})", enc.state,
                         "everything inside it", ("the header fields outside it, which travel in the clear",),
                         False, encryption=enc)
    counts = layer is report.signature_layer
    signers = tuple(signer_view(i, s, headers, at, sources) for i, s in enumerate(layer.signers, 1))
    worst = worst_status(layer.signers)
    state = next((v.state for v in signers if v.status == worst), State(BAD, "cross", "No signer: nobody vouches"))
    not_covered = [OUTER_FIELDS, *outer]
    if not counts:
        not_covered.append("the message: this signature lies too deep to count for it")
    return LayerView(depth, "signed", f"Signed ({layer.form})", state, layer.covers or "the signed content",
                     tuple(not_covered), counts, signers)


def _verdict(report: Report, layers: tuple[LayerView, ...]) -> tuple[State, str, list[str]]:
    nested_signed = [p for p in report.nested_parts if any(t in p for t in SIGNED_PART_TYPES)]
    if any("multipart/signed" in p for p in nested_signed):  # its application/pkcs7-signature child is listed too
        nested_signed = [p for p in nested_signed if "pkcs7-signature" not in p]
    if report.signed:
        signer = next((s for lay in layers if lay.counts for s in lay.signers if s.status == report.status), None)
        state = signer.state if signer else STATUS_STATES[report.status]
        headline = signer.sentence if signer else NOT_SIGNED_SENTENCE
        covered = report.signature_layer.covers if report.signature_layer else None
        extra = [f"The signature covers the whole body of the message ({covered or 'its content'})."]
        if nested_signed:
            extra.append("The message also holds signed or encrypted parts of its own; they are listed below and "
                         "were not checked separately.")
        return state, headline, extra
    if nested_signed:
        return (State(WARN, "warning", "Not signed: only a part is signed"),
                "Only a part of this message is signed: the text and parts around it are not, so the message "
                "as a whole is not signed.",
                ["A signature inside an unsigned message covers that part only. Anyone could have written or "
                 "changed the rest of the message.", *(f"Signed part: {p}" for p in nested_signed)])
    if any(lay.kind == "signed" for lay in layers):
        return (State(WARN, "warning", "Not signed: the signature does not count"),
                "A signature lies too deep in the message to count for it.", [])
    if report.encrypted:
        return State(NEUTRAL, "lock", "Encrypted, not signed"), NOT_SIGNED_SENTENCE, []
    return STATUS_STATES[SignerStatus.NOT_SIGNED], NOT_SIGNED_SENTENCE, []


def _integrity(report: Report) -> State:
    if report.integrity_protected:
        how = "authenticated encryption" if report.encrypted and report.layers[0].integrity_protected else "signature"
        return State(GOOD, "check", f"Integrity protected by the {how}")
    if report.encrypted:
        return State(WARN, "warning", "Integrity not protected: CBC encryption without a valid signature inside")
    return State(NEUTRAL, "info", "Integrity not protected")


def report_view(report: Report, headers: MessageHeaders | None = None, *, at: datetime | None = None,
                trust_sources: Mapping[str, str] | None = None) -> ReportView:
    """The page's view of ``report``. ``headers`` are the message's From/Date/Subject (``message_headers``);
    ``at`` the time certificate dates are shown against (now); ``trust_sources`` names where each anchor came
    from, by SHA-256 fingerprint ("system bundle", "store trust list", ...), which the Report does not record."""
    heads = headers or MessageHeaders()
    when = at or datetime.now(UTC)
    sources = trust_sources or {}
    layers = tuple(_layer(d, lay, report, heads, when, sources) for d, lay in enumerate(report.layers, 1))
    verdict, headline, explanation = _verdict(report, layers)
    return ReportView(
        verdict=verdict, headline=headline, explanation=tuple(explanation), status=str(report.status),
        signed=report.signed, encrypted=report.encrypted, integrity=_integrity(report), headers=heads,
        layers=layers, nested_parts=report.nested_parts, warnings=tuple(report.to_dict()["warnings"]),
        content_type=report.content_type, header_fields=_header_fields(report),
    )


__all__ = ["CLAIMED", "ChainEntry", "Encryption", "LayerView", "MessageHeaders", "ReportView", "Revocation",
           "SignerView", "message_headers", "report_view", "signer_view"]

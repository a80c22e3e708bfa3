"""Verify a message for the console's verify page and ``POST /api/v1/verify``: the library's verifier with the
trust list in the console's store, the page's view of the Report, and one audit event per verification.

Stateless: the message is verified and forgotten (only its Message-ID and the verdict are audited, never the
body). Revocation is soft-fail with fetching off: a console request never reaches out to a CRL or OCSP server
named in a certificate someone uploaded. The console holds no key store passphrase, so an encrypted message is
not decrypted: the page names the certificates it is encrypted for and points to ``mailseal open``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..cms.identity import Identity, fingerprint
from ..cms.inspection import RecipientIdentifier
from ..errors import MailsealError, MalformedInputError, NoMatchingRecipientError, UsageError
from ..limits import DEFAULT_LIMITS, Limits
from ..mime.entity import Entity
from ..mime.opening import classify, open_message
from ..mime.report import Report
from ..mime.signed import parse_multipart_signed
from ..pki.truststore import TrustStore
from ..pki.validation import ValidationContext
from ..store import audit
from ..store.database import Store
from ..store.trust import StoredTrust
from .report_view import ReportView, message_headers, report_view

log = logging.getLogger("mailseal.web")
#: The largest message the console verifies (an upload, a paste or an API body).
MAX_MESSAGE = 25 * 1024 * 1024
ACTION = "console.verify"
TRUST_SOURCE = "the trust list in the store"
OPEN_HINT = "the console holds no key store passphrase and does not decrypt: decrypt it with `mailseal open`"


@dataclass(frozen=True)
class Verification:
    """What verifying one message found: the view of its Report, or (encrypted, no key here) whom it is for."""

    message_id: str | None
    size: int
    view: ReportView | None = None
    encrypted_for: tuple[str, ...] = ()
    # Public material for the downloads: the certificates the signers' layers carried, by SHA-256 fingerprint,
    # and the detached signature (.p7s) of the layer that counts for the message, when it is at the root.
    certificates: dict[str, bytes] = field(default_factory=dict)
    signature: bytes | None = None

    @property
    def verdict(self) -> str:
        """The Report's status (``valid``, ``invalid-signature``, ``not-signed``, ...) or ``encrypted``."""
        return self.view.status if self.view is not None else "encrypted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the view's dataclasses as dicts and lists (no bytes: PEM text, fingerprints)."""
        view = dataclasses.asdict(self.view) if self.view is not None else None
        state = self.view.verdict if self.view is not None else None
        return {
            "verdict": self.verdict,
            "word": state.word if state else "Encrypted: not opened here",
            "tone": state.tone if state else "neutral",
            "headline": self.view.headline if self.view is not None else OPEN_HINT,
            "message_id": self.message_id,
            "size": self.size,
            "encrypted_for": list(self.encrypted_for),
            "view": _jsonable(view),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def trust(store: Store) -> TrustStore:
    """The trust list in effect for the console: the store's (the console always has one; docs/trust.md)."""
    return StoredTrust(store).trust_store()


def context(anchors: TrustStore, at: datetime) -> ValidationContext:
    return ValidationContext(trust=anchors, moment=at, revocation_mode="soft-fail", allow_fetching=False)


def trust_sources(anchors: TrustStore) -> dict[str, str]:
    return {fingerprint(c): TRUST_SOURCE for c in anchors.anchors}


def _message_id(raw: bytes) -> str | None:
    try:
        found = Entity.parse(raw).field("Message-ID")
    except MailsealError:
        return None
    return found.strip()[:256] if found else None


def _certificates(report: Report) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for layer in report.layers:
        for signer in layer.signers:
            certs = [signer.certificate] if signer.certificate is not None else []
            for cert in (*certs, *signer.chain, *signer.certificates):
                out.setdefault(fingerprint(cert), cert.public_bytes(Encoding.DER))
    return out


def _signature(raw: bytes, report: Report) -> bytes | None:
    """The detached signature of a root ``multipart/signed`` (an opaque signature holds the content: not a .p7s)."""
    if not report.layers or report.layers[0].kind != "signed" or report.signature_layer is not report.layers[0]:
        return None
    try:
        entity = Entity.parse(raw)
        return parse_multipart_signed(entity).signature if classify(entity) == "signed" else None
    except MailsealError:
        return None


def verify_message(store: Store, raw: bytes, at: datetime, limits: Limits = DEFAULT_LIMITS) -> Verification:
    """Verify ``raw`` with the store's trust list at time ``at``, within ``limits`` (the settings' ``[limits]``).
    Raises ``UsageError`` for an empty or too large message, ``LimitExceededError`` past a limit and
    ``MalformedInputError`` for one that cannot be read; everything else is a Verification."""
    if not raw.strip():
        raise UsageError("the message is empty: choose an .eml file or paste the whole message, headers included")
    if len(raw) > MAX_MESSAGE:
        raise UsageError(f"the message is larger than {MAX_MESSAGE // (1024 * 1024)} MiB: verify it with "
                         "`mailseal verify` instead")
    anchors = trust(store)
    seen: list[RecipientIdentifier] = []

    def no_keys(recipients: Sequence[RecipientIdentifier]) -> Sequence[Identity]:
        seen.extend(recipients)
        return ()

    message_id = _message_id(raw)
    try:
        opened = open_message(raw, identities=no_keys, context=context(anchors, at), keep_inner_encrypted=True,
                              limits=limits.started())  # message_seconds bounds one request's work too
    except NoMatchingRecipientError:
        if not seen:
            raise
        return Verification(message_id, len(raw), encrypted_for=tuple(str(r) for r in seen))
    except MailsealError:
        raise
    except Exception as exc:  # an input the parsers did not expect: the user gets a sentence, the log the cause
        log.warning("verify: unreadable message (%s: %s)", type(exc).__name__, exc)
        raise MalformedInputError("this is not a message mailseal can read (MIME or CMS structure broken)") from None
    view = report_view(opened.report, message_headers(opened.message), at=at, trust_sources=trust_sources(anchors))
    return Verification(message_id, len(raw), view, certificates=_certificates(opened.report),
                        signature=_signature(raw, opened.report))


def record(store: Store, actor: str, raw: bytes, verdict: str) -> None:
    """One audit event per verification: who, which message, the verdict (an error code for a message that could
    not be read); never the body."""
    detail = {"verdict": verdict, "bytes": len(raw)}
    with store.session() as session:
        audit.record(session, ACTION, _message_id(raw) or "(no Message-ID)", detail, actor)


def certificate_pem(der: bytes) -> tuple[bytes, str]:
    """A certificate's PEM and its SHA-256 fingerprint (hex)."""
    cert = x509.load_der_x509_certificate(der)
    return cert.public_bytes(Encoding.PEM), fingerprint(cert)


__all__ = ["ACTION", "MAX_MESSAGE", "OPEN_HINT", "Verification", "certificate_pem", "context", "record",
           "trust", "trust_sources", "verify_message"]

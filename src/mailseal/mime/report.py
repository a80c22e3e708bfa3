"""The Report: what opening a message found, layer by layer, outermost first (ARCHITECTURE "central values")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography import x509

from ..cms.algorithms import LEGACY_CIPHER_NAMES, WEAK_CIPHERS
from ..pki.certfields import CertificateFields, certificate_fields, subject_or_fingerprint
from ..pki.status import STATUS_ORDER, SignerStatus
from .headerset import HeaderSet


@dataclass(frozen=True)
class SignerResult:
    """One signer: raw facts (intact, certificate, chain) kept apart from the judgement (trusted, status)."""

    status: SignerStatus
    intact: bool
    trusted: bool
    certificate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]
    digest_algorithm: str
    signature_algorithm: str
    signing_time: datetime | None
    reasons: tuple[str, ...]
    capabilities: tuple[str, ...] = ()
    revocation: str = "not-checked"  # good | revoked | unknown | not-checked
    # Every certificate the SignedData carried (and the extra ones given): a renderer can show the issuers of a
    # refused path, which ``chain`` (the validated path, or the signer alone) does not hold.
    certificates: tuple[x509.Certificate, ...] = ()

    @property
    def fields(self) -> CertificateFields | None:
        """The signer certificate's shown fields, read defensively (a name that cannot be parsed is None)."""
        return certificate_fields(self.certificate) if self.certificate is not None else None

    @property
    def emails(self) -> list[str]:
        fields = self.fields
        return list(fields.emails) if fields else []

    def to_dict(self) -> dict[str, Any]:
        fields = self.fields
        return {
            "status": self.status,
            "intact": self.intact,
            "trusted": self.trusted,
            "subject": fields.subject if fields else None,
            "issuer": fields.issuer if fields else None,
            "serial": fields.serial if fields else None,
            "fingerprint_sha256": fields.fingerprint_sha256 if fields else None,
            "emails": list(fields.emails) if fields else [],
            "digest_algorithm": self.digest_algorithm,
            "signature_algorithm": self.signature_algorithm,
            "signing_time": _iso(self.signing_time),
            "chain": [subject_or_fingerprint(c) for c in self.chain],
            "revocation": self.revocation,
            "reasons": list(self.reasons),
        }


def worst_status(signers: tuple[SignerResult, ...]) -> SignerStatus:
    """The worst of the signers' statuses in ``STATUS_ORDER``; ``not-signed`` when there is no signer."""
    if not signers:
        return SignerStatus.NOT_SIGNED
    return min((s.status for s in signers), key=STATUS_ORDER.index)


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Layer:
    """One protection layer: signed (detached or opaque), enveloped or auth-enveloped."""

    kind: str  # "signed" | "enveloped" | "auth-enveloped"
    form: str = ""  # "multipart/signed" | "application/pkcs7-mime"
    signers: tuple[SignerResult, ...] = ()
    covers: str | None = None  # content type of the entity the signature covers
    content_algorithm: str | None = None
    key_algorithm: str | None = None
    recipient_index: int | None = None
    recipient_count: int | None = None
    integrity_protected: bool | None = None
    opened: bool = True  # False: an encrypted layer no key given could open (``keep_inner_encrypted``)
    recipients: tuple[str, ...] = ()  # whom a layer left closed is encrypted for

    @property
    def status(self) -> SignerStatus | Literal["decrypted", "not-decrypted"]:
        """A signed layer's status is the worst of its signers' (``not-signed`` without any); an encryption
        layer's is ``decrypted``, or ``not-decrypted`` when it was left closed."""
        if self.kind != "signed":
            return "decrypted" if self.opened else "not-decrypted"
        return worst_status(self.signers)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "form": self.form}
        if self.kind == "signed":
            out.update(status=self.status, covers=self.covers, signers=[s.to_dict() for s in self.signers])
        else:
            out.update(
                content_algorithm=self.content_algorithm,
                key_algorithm=self.key_algorithm,
                recipient_index=self.recipient_index,
                recipient_count=self.recipient_count,
                integrity_protected=self.integrity_protected,
                opened=self.opened,
            )
            if not self.opened:
                out["recipients"] = list(self.recipients)
        return out


@dataclass(frozen=True)
class Report:
    """Everything ``open``/``verify`` found. Renderers (CLI, gateway stamps, web) read it; none recompute it."""

    layers: tuple[Layer, ...] = ()
    content_type: str = "text/plain"
    warnings: tuple[str, ...] = field(default_factory=tuple)
    nested_parts: tuple[str, ...] = field(default_factory=tuple)
    # The header set a reader should show (RFC 9788 §4): the protected fields inside, or the outer ones; None
    # for a bare CMS object, which has no header.
    headers: HeaderSet | None = None
    #: Legacy algorithm names accepted by explicit choice when the message was opened (cms.algorithms).
    allowed_legacy: frozenset[str] = frozenset()

    @property
    def signature_layer(self) -> Layer | None:
        """The signature that counts for the message: at the root, or directly inside the root's encryption."""
        for i, layer in enumerate(self.layers):
            if layer.kind == "signed":
                return layer if all(lay.kind != "signed" for lay in self.layers[:i]) and i <= 1 else None
            if i >= 1:
                return None
        return None

    @property
    def signed(self) -> bool:
        """Zero signers is not signed (RFC 5652 §5.1 permits the structure, but nobody vouches for it)."""
        layer = self.signature_layer
        return layer is not None and bool(layer.signers)

    @property
    def encrypted(self) -> bool:
        return bool(self.layers) and self.layers[0].kind in ("enveloped", "auth-enveloped")

    @property
    def signers(self) -> tuple[SignerResult, ...]:
        layer = self.signature_layer
        return layer.signers if layer else ()

    @property
    def status(self) -> SignerStatus:
        """The worst status of the signature that counts for the message, or ``not-signed``."""
        layer = self.signature_layer
        return worst_status(layer.signers) if layer else SignerStatus.NOT_SIGNED

    @property
    def valid(self) -> bool:
        return self.status == SignerStatus.VALID

    @property
    def integrity_protected(self) -> bool:
        """AEAD encryption or a valid signature inside the encryption protects integrity (RFC 8551 §2.7)."""
        if not self.encrypted:
            return self.signed and bool(self.signers) and all(s.intact for s in self.signers)
        if self.layers[0].integrity_protected:
            return True
        inner = self.signature_layer
        return inner is not None and bool(inner.signers) and all(s.intact for s in inner.signers)

    def to_dict(self) -> dict[str, Any]:
        layer = self.signature_layer
        warnings = list(self.warnings)
        for lay in self.layers:
            if lay.content_algorithm in WEAK_CIPHERS:
                legacy = LEGACY_CIPHER_NAMES.get(lay.content_algorithm)
                if legacy is not None and legacy in self.allowed_legacy:
                    warnings.append(f"legacy cipher accepted by explicit choice (allow_legacy {legacy}): the message "
                                    f"was encrypted with {lay.content_algorithm}")
                else:
                    warnings.append(f"weak cipher: the message was encrypted with {lay.content_algorithm}")
        if self.encrypted and not self.integrity_protected:
            warnings.append("integrity not protected: CBC encryption without a valid signature inside")
        if any(not lay.opened for lay in self.layers):
            warnings.append("the signed content is encrypted and was not opened (no key for it here): what it "
                            "holds, and any signature inside it, was not checked")
        if self.headers is not None:
            warnings.extend(self.headers.differences)
            warnings.extend(self.headers.flags)
        return {
            "signed": self.signed,
            "encrypted": self.encrypted,
            "status": self.status,
            "signers": [s.to_dict() for s in self.signers],
            "covers": layer.covers if layer else None,
            "integrity_protected": self.integrity_protected,
            "content_type": self.content_type,
            "layers": [lay.to_dict() for lay in self.layers],
            "nested_parts": list(self.nested_parts),
            "headers": self.headers.to_dict() if self.headers is not None else None,
            "warnings": warnings,
        }


__all__ = ["STATUS_ORDER", "Layer", "Report", "SignerResult", "SignerStatus", "worst_status"]

"""Human-readable rendering of a Report for the terminal (the JSON form is Report.to_dict())."""

from __future__ import annotations

from ..mime.report import Report, SignerResult

STATUS_WORDS = {
    "valid": "VALID",
    "invalid-signature": "INVALID: the signature does not match the content",
    "unknown-signer": "INVALID: the signer's certificate is missing",
    "untrusted": "NOT TRUSTED: the signer's certificate does not chain to a trusted root",
    "expired": "NOT VALID: a certificate has expired",
    "not-yet-valid": "NOT VALID: a certificate is not yet valid",
    "revoked": "NOT VALID: a certificate is revoked",
    "address-mismatch": "NOT VALID: the signer is not the sender (From)",
    "weak-algorithm": "WEAK: a weak algorithm or key protects the signature",
    "revocation-unknown": "NOT VALID: the revocation status could not be established (hard-fail)",
    "usage-not-allowed": "NOT VALID: the certificate may not sign e-mail",
    "not-signed": "the message is not signed",
}


def _signer(index: int, s: SignerResult) -> list[str]:
    who = ", ".join(s.emails) or (s.certificate.subject.rfc4514_string() if s.certificate else "unknown")
    verdict = STATUS_WORDS.get(s.status, s.status)
    if s.status == "valid" and s.revocation == "unknown":
        verdict = "VALID, revocation unknown"
    lines = [f"  signer {index}: {who}: {verdict}"]
    if s.certificate is not None:
        lines.append(f"    subject:   {s.certificate.subject.rfc4514_string()}")
        lines.append(f"    issuer:    {s.certificate.issuer.rfc4514_string()}")
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
    data = report.to_dict()
    out.extend(f"warning: {w}" for w in data["warnings"])
    out.extend(f"nested part (not protecting the message): {p}" for p in report.nested_parts)
    return "\n".join(out)


__all__ = ["render"]

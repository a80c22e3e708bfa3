"""A signer's chain as the verify page lists and draws it: leaf first, then intermediates, then the anchor.

A validated path comes from the Report (``SignerResult.chain``). A refused path (expired, revoked, untrusted) holds
the signer certificate alone, so the issuers the message carried are linked to it by their signatures (RFC 5280
§6.1.3 (a)(1), checked with pyca) and shown as such: carried by the message, not validated. That is how an
expired intermediate is seen to be the expired one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ..cms.identity import fingerprint
from ..mime.report import SignerResult
from ..pki.status import SignerStatus
from .report_certs import CertFacts, cert_facts
from .report_words import NEUTRAL, REVOCATION_STATES, VALIDITY_STATES, State

MAX_ISSUERS = 8
ANCHOR_REVOCATION = State(NEUTRAL, "info", "Anchor: not checked")
NOT_VALIDATED = "Carried by the message; not validated, as the verifier refused the path"


@dataclass(frozen=True)
class ChainEntry:
    """One certificate of a signer's chain, leaf first."""

    role: str  # "Signer certificate" | "Intermediate CA" | "Trust anchor" | "Issuer carried by the message"
    cert: CertFacts
    validity: State
    revocation: State
    trust: str


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):  # another name, an unsupported key, a wrong signature
        return False
    return True


def carried_issuers(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``leaf`` among ``pool``, each verified to have signed the one below, up to a self-issued one."""
    out: list[x509.Certificate] = []
    seen = {fingerprint(leaf)}
    current = leaf
    for _ in range(MAX_ISSUERS):
        issuer = next((c for c in pool if fingerprint(c) not in seen and _issued_by(current, c)), None)
        if issuer is None:
            break
        out.append(issuer)
        seen.add(fingerprint(issuer))
        if _issued_by(issuer, issuer):
            break
        current = issuer
    return out


def chain_entries(s: SignerResult, at: datetime,
                  sources: Mapping[str, str]) -> tuple[tuple[ChainEntry, ...], bool, str]:
    """(entries leaf first, whether they end at a trust anchor, a sentence saying how the list was made)."""
    revocation = REVOCATION_STATES.get(s.revocation, REVOCATION_STATES["not-checked"])
    entries = []
    last = len(s.chain) - 1
    for i, cert in enumerate(s.chain):
        facts = cert_facts(cert, at)
        if s.trusted and i == last:
            where = sources.get(facts.fingerprint_sha256, "a trust anchor of the validation's trust store")
            role, trust, rev = "Trust anchor", f"Trusted: {where}", ANCHOR_REVOCATION
        else:
            role = "Signer certificate" if i == 0 else "Intermediate CA"
            trust = "Chains to the trust anchor" if s.trusted else "Not shown to chain to a trust anchor"
            rev = revocation
        entries.append(ChainEntry(role, facts, VALIDITY_STATES[facts.validity], rev, trust))
    if s.trusted:
        return tuple(entries), True, "The chain leads to a trust anchor."
    if not s.intact or s.certificate is None or s.status == SignerStatus.UNKNOWN_SIGNER:
        return tuple(entries), False, "The chain was not checked: the signature or its certificate failed first."
    issuers = carried_issuers(s.certificate, s.certificates) if len(s.chain) == 1 else []
    for cert in issuers:
        facts = cert_facts(cert, at)
        source = sources.get(facts.fingerprint_sha256)
        if source is not None:  # one of the console's anchors, even though the path below it was refused
            role, trust, rev = "Trust anchor", f"Trusted: {source}; the path below it was refused", ANCHOR_REVOCATION
        else:
            role, trust, rev = "Issuer carried by the message", NOT_VALIDATED, REVOCATION_STATES["not-checked"]
        entries.append(ChainEntry(role, facts, VALIDITY_STATES[facts.validity], rev, trust))
    if issuers:
        note = ("No trusted chain was established. The issuers listed are the certificates the message carries, "
                "linked by their signatures; the verifier did not validate them.")
    else:
        note = "No trusted chain was established, and the message carries no issuer of the signer's certificate."
    return tuple(entries), False, note


__all__ = ["ChainEntry", "carried_issuers", "chain_entries"]

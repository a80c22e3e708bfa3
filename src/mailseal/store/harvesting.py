"""Harvesting correspondents' certificates and SMIMECapabilities from verified inbound mail (RFC 8551 §2.5.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from ..mime.judgement import CLOCK_SKEW
from ..mime.report import Report, SignerResult, SignerStatus
from ..pki.certfields import unreadable_reason
from ..pki.profile import email_matches, normalize_address
from . import audit
from .database import Store
from .directory import Directory, file_certificate, fingerprint
from .models import RecipientCertificate

#: Only a signer judged ``valid`` is harvested. Soft-fail revocation ("revocation unknown") keeps the status
#: ``valid`` (docs/cli.md), so it is accepted; every other status, including hard-fail ``revocation-unknown``, is not.
HARVESTABLE = frozenset({SignerStatus.VALID})


@dataclass
class HarvestResult:
    """What one message taught the directory."""

    added: list[str] = field(default_factory=list)  # fingerprints newly filed
    seen: list[str] = field(default_factory=list)  # fingerprints already known (last_seen updated)
    capabilities_learned: bool = False
    new_key: bool = False
    ignored: list[str] = field(default_factory=list)  # why signers were not harvested

    @property
    def changed(self) -> bool:
        return bool(self.added) or self.capabilities_learned


def _reason_to_skip(signer: SignerResult, from_address: str) -> str | None:
    if signer.status not in HARVESTABLE:
        return f"signer status is {signer.status}"
    if signer.certificate is None:
        return "no signer certificate"
    if unreadable_reason(signer.certificate) is not None:  # never filed, whatever status a caller gave it
        return "the signer certificate cannot be parsed"
    if not email_matches(from_address, signer.certificate):
        return f"the signer certificate is not for {from_address}"
    return None


def _believable_time(claimed: datetime | None, when: datetime | None) -> datetime | None:
    """The signing time that orders advertisements, unless it is in the future: a time ten years ahead would make
    its advertisement the newest for ten years (no later message could change it), so it only fills a gap."""
    if claimed is None or claimed > (when or datetime.now(UTC)) + CLOCK_SKEW:
        return None
    return claimed


def harvest(report: Report, from_address: str, store: Store, *, when: datetime | None = None,
            actor: str = "harvest") -> HarvestResult:
    """File the certificate of each valid signer that matches the verified From address, and its capabilities.

    Only the signature that counts for the message (``Report.signers``) is read, and of it only signer
    certificates: never the other certificates a message carries. A new key for an address already known is
    filed beside the old one with an audit event ``harvest.new-key``; nothing is replaced.
    """
    result = HarvestResult()
    address = normalize_address(from_address)
    directory = Directory(store)
    for signer in report.signers:
        reason = _reason_to_skip(signer, from_address)
        if reason is not None:
            result.ignored.append(reason)
            continue
        cert = signer.certificate
        assert cert is not None  # checked by _reason_to_skip
        fp = fingerprint(cert)
        with store.session() as session:
            known = set(session.scalars(select(RecipientCertificate.fingerprint)
                                        .where(RecipientCertificate.address == address)))
            outcome = file_certificate(session, cert, "harvested", when=when, actor=actor, addresses=[address])
            if outcome.status == "added":
                result.added.append(fp)
                others = sorted(known - {fp})
                if others:
                    result.new_key = True
                    audit.record(session, "harvest.new-key", address,
                                 {"fingerprint": fp, "previous": others}, actor)
            else:
                result.seen.append(fp)
            claimed = _believable_time(signer.signing_time, when)
            if signer.capabilities and directory.learn_capabilities(session, address, fp, signer.capabilities,
                                                                    claimed):
                result.capabilities_learned = True
                audit.record(session, "harvest.capabilities", address,
                             {"fingerprint": fp, "capabilities": list(signer.capabilities),
                              "signing_time": None if signer.signing_time is None
                              else signer.signing_time.isoformat()}, actor)
    return result


def signed_before(store: Store, address: str) -> datetime | None:
    """When mail from ``address`` last came with a valid signature (a certificate harvested from it), or None.

    A sender whose mail was signed is expected to sign: an unsigned message from them is worth a word (the
    signature may have been stripped on the way, a downgrade to "not signed" that no signature check can see).
    """
    seen = [e.last_seen for e in Directory(store).find(address) if e.source == "harvested"]
    return max(seen) if seen else None


__all__ = ["HARVESTABLE", "HarvestResult", "harvest", "signed_before"]

"""The gateway's side of the recipient portal (docs/portal.md): the message deposited sealed in the store; the
notifications are built by ``policy.portal_mail`` (one per recipient, sent by the pipeline).

Each recipient's notification is addressed to that recipient alone, so a Bcc recipient never sees the others (nor
they the Bcc recipient). The pipeline signs a notification with the sender's key when the policy signs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..policy.portal_mail import notification
from ..policy.portal_settings import Brand, PortalSettings
from ..store.portal import PortalStore
from ..store.portal_records import Deposit

#: The fields of the original kept with the deposited message; Bcc is dropped (it must reach no recipient).
DROPPED_FIELDS = ("Bcc",)


def deposit(portal: PortalStore, settings: PortalSettings, message: bytes, sender: str,
            recipients: Sequence[str], bcc: Sequence[str], now: datetime | None = None,
            digest: str | None = None) -> tuple[Deposit, Brand]:
    """Seal ``message`` in the portal store for ``recipients`` with the sender's brand (its expiry, proof and read
    receipt); the deposit (with each recipient's clear token) and the brand. ``digest``: the deposit's key
    (``deposit_digest``), so that a retried transaction finds its first deposit."""
    brand = settings.brand_for(sender)
    domain = brand.domain or sender.rpartition("@")[2].lower()
    done = portal.deposit(message, sender, recipients, brand=domain, bcc=bcc, expiry_days=settings.expiry_for(brand),
                          proof=brand.proof, read_receipt=brand.read_receipt, now=now, actor="gateway",
                          digest=digest)
    return done, brand


__all__ = ["DROPPED_FIELDS", "deposit", "notification"]

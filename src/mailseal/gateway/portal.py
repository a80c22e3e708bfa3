"""The gateway's side of the recipient portal (docs/portal.md): the message deposited sealed in the store; the
notifications are built by ``policy.portal_mail`` (one per recipient, sent by the pipeline).

Each recipient's notification is addressed to that recipient alone, so a Bcc recipient never sees the others (nor
they the Bcc recipient). The pipeline signs a notification with the sender's key when the policy signs.

A message read with a password (the brand's ``proof = "password"``) gets a strong random password of its own; only
its argon2id hash is kept, and the password goes to the **sender** in a password notice (queued in the portal's
outbox in the deposit's transaction, signed by the gateway when it holds the portal sender's identity), to be
passed on by phone or text message. A sender of ours (trusted network or authenticated submission) may choose the
password instead in the ``X-Mailseal-Portal-Password`` field, which is removed from every copy the gateway stores
or sends (``stamping.without_our_stamps``) and never logged; from anyone else the field is only removed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime

from ..errors import PolicyRefusal, UsageError
from ..policy.portal_mail import notification, password_notice
from ..policy.portal_settings import Brand, PortalSettings
from ..store.portal import PortalStore, check_chosen_password, new_password
from ..store.portal_records import Deposit

#: The field in which a sender of ours may choose the password of a portal message (removed before anything is
#: stored or sent).
PASSWORD_FIELD = "X-Mailseal-Portal-Password"
#: The fields of the original not kept with the deposited message: Bcc (it must reach no recipient) and the
#: sender's password.
DROPPED_FIELDS = ("Bcc", PASSWORD_FIELD)


def node_name() -> str:
    """This node's name in outbox claims and notification leases: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def deposit(portal: PortalStore, settings: PortalSettings, message: bytes, sender: str,
            recipients: Sequence[str], bcc: Sequence[str], now: datetime | None = None,
            digest: str | None = None, *, subject: str = "", chosen_password: str | None = None,
            hostname: str = "localhost") -> tuple[Deposit, Brand]:
    """Seal ``message`` in the portal store for ``recipients`` with the sender's brand (its expiry, proof and read
    receipt); the deposit (with each recipient's clear token) and the brand. ``digest``: the deposit's key
    (``deposit_digest``), so that a retried transaction finds its first deposit. ``chosen_password``: the
    sender's own (from a trusted sender's ``X-Mailseal-Portal-Password``): the message is then read with it,
    whatever the brand's proof."""
    brand = settings.brand_for(sender)
    domain = brand.domain or sender.rpartition("@")[2].lower()
    proof = "password" if chosen_password is not None else brand.proof
    password_hash = None
    notice = None
    if proof == "password":
        if not sender:
            raise PolicyRefusal("a portal message read with a password needs a sender to give the password to")
        if chosen_password is not None:
            try:
                check_chosen_password(chosen_password)
            except UsageError as exc:
                raise PolicyRefusal(f"{PASSWORD_FIELD}: {exc.message}") from None
        password = chosen_password if chosen_password is not None else new_password()
        password_hash = portal.hasher.hash(password)
        told = None if chosen_password is not None else password

        def notice(message_id: str) -> bytes:
            return password_notice(brand, settings, sender=sender, subject=subject, recipients=recipients,
                                   message_id=message_id, password=told, hostname=hostname)

    done = portal.deposit(message, sender, recipients, brand=domain, bcc=bcc, expiry_days=settings.expiry_for(brand),
                          proof=proof, password_hash=password_hash, read_receipt=brand.read_receipt, now=now,
                          actor="gateway", digest=digest, password_notice=notice, holder=node_name())
    return done, brand


__all__ = ["DROPPED_FIELDS", "PASSWORD_FIELD", "deposit", "node_name", "notification"]

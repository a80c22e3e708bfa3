"""The portal's outbox drained by the running gateway (any node), and its purge on a schedule (docs/portal.md).

The portal queues passcode mails, read receipts and replies in the shared store; every gateway node claims items
(a claim two nodes cannot both win), sends them to the next hop and marks them sent, or queued again after a
failure with a growing delay. A reply goes to the original sender as mail from the portal's sender address on the
recipient's behalf (Reply-To the recipient), threaded by the portal, signed with the portal sender's identity when
the key store holds one and encrypted to the sender when every recipient has a certificate; a password notice
(to the sender of a message read with a password) is encrypted to the sender the same way; the other kinds are
sent as they are, signed when the key store holds a key for their From address.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import SMTP
from functools import partial
from io import BytesIO
from typing import BinaryIO, cast

from .. import api
from ..cms.identity import Identity
from ..errors import MailsealError, RecipientError
from ..policy.portal_settings import PortalSettings
from ..policy.smime import SmimeSettings
from ..store.capabilities import choose_algorithms
from ..store.portal_records import OutboxItem
from .portal import node_name
from .relay import Copy, DeliveryError, Journal, Relay, copy_key
from .resources import Resources

log = logging.getLogger("mailseal.gateway")


def _header_address(data: bytes, name: str) -> str:
    headers = BytesParser(policy=SMTP).parsebytes(data, headersonly=True)
    return email.utils.parseaddr(str(headers.get(name, "")))[1].lower()


def _as_portal_sender(data: bytes, portal_sender: str) -> bytes:
    """A reply written in the portal, From the portal's sender address on the writer's behalf: a signature by the
    gateway then matches its From, and Reply-To still answers the writer."""
    msg = BytesParser(policy=SMTP).parsebytes(data)
    writer = email.utils.parseaddr(str(msg.get("From", "")))[1]
    del msg["From"]
    msg["From"] = email.utils.formataddr((f"{writer} via the portal", portal_sender))
    if writer and "Reply-To" not in msg:
        msg["Reply-To"] = writer
    return msg.as_bytes()


def prepare(item: OutboxItem, resources: Resources, smime: SmimeSettings, settings: PortalSettings) -> bytes:
    """The mail to send for ``item`` (signed, and a reply encrypted, as the module says)."""
    data = item.content
    encrypt_to = []
    if item.kind == "reply":
        original = item.recipients[0] if item.recipients else ""
        data = _as_portal_sender(data, settings.sender_for(original))
    if item.kind in ("reply", "password"):
        # a password notice holds the key to a message: encrypted to its sender too, when that is possible
        found = [resources.recipient(r) for r in item.recipients]
        if found and all(f is not None for f in found):
            encrypt_to = [f for f in found if f is not None]
    signer = _header_address(data, "From")
    identity = resources.signing_identity(signer) if signer else None
    if identity is not None:
        if not smime.include_root:
            identity = Identity(identity.private_key, identity.certificate,
                                tuple(c for c in identity.chain if c.subject != c.issuer))
        data = api.sign(data, identity, opaque=not smime.clear_signed, digest=smime.signing_algorithm,
                        pss=smime.rsa_pss, include_chain=smime.include_chain,
                        include_capabilities=smime.include_capabilities)
    if encrypt_to:
        cipher, transport = choose_algorithms([r.capabilities for r in encrypt_to],
                                              default=smime.encryption_algorithm, floor=smime.encryption_floor)
        try:
            data = api.encrypt(data, [r.certificate for r in encrypt_to], cipher=cipher, key_transport=transport)
        except RecipientError as exc:  # a certificate no longer fit: the reply goes signed only
            log.warning("portal %s %d not encrypted: %s", item.kind, item.id, exc.message)
    return data


class PortalWorker:
    """The outbox drain and the purge of one running gateway. ``relay`` and ``resources`` are asked each round
    (a reload replaces them); blocking store and crypto work runs in ``executor``."""

    def __init__(self, resources: Callable[[], Resources], relay: Callable[[], Relay], smime: Callable[[],
                 SmimeSettings], journal: Journal, executor: object, node: str | None = None) -> None:
        self._resources = resources
        self._relay = relay
        self._smime = smime
        self.journal = journal
        self.executor = executor
        self.node = node or node_name()

    async def _run(self, fn: Callable[[], object]) -> object:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)  # type: ignore[arg-type]

    async def drain_once(self) -> int:
        """Claim and send what is queued; how many items were sent."""
        resources = self._resources()
        portal = resources.portal()
        items = cast(list[OutboxItem], await self._run(lambda: portal.claim(self.node)))
        sent = 0
        for item in items:
            try:
                data = cast(bytes, await self._run(
                    partial(prepare, item, resources, self._smime(), resources.portal_settings)))
                key = copy_key(f"portal-outbox:{item.id}", item.envelope_from, item.recipients)
                copy = Copy(item.recipients, cast(BinaryIO, BytesIO(data)), key, item.envelope_from)
                await self._relay().deliver(item.envelope_from, [copy])
            except DeliveryError as exc:
                await self._run(partial(portal.mark_failed, item.id, self.node, exc.message,
                                        permanent=exc.permanent))
                log.warning("portal %s mail %d not sent: %s", item.kind, item.id, exc.message)
                continue
            except (MailsealError, OSError) as exc:
                await self._run(partial(portal.mark_failed, item.id, self.node, str(exc)))
                log.warning("portal %s mail %d not sent: %s", item.kind, item.id, exc)
                continue
            await self._run(partial(portal.mark_sent, item.id, self.node))
            self.journal.forget([key])
            sent += 1
        return sent

    async def drain_forever(self) -> None:
        while True:
            try:
                await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # deliberately broad: the drain must outlive a database that went away for a while
                log.exception("the portal outbox could not be drained")
            await asyncio.sleep(self._resources().portal_settings.outbox_poll_seconds)

    async def purge_forever(self) -> None:
        """Purge expired portal messages now and every ``purge_interval_seconds`` (any node may: a purge is
        idempotent)."""
        while True:
            try:
                portal = self._resources().portal()
                done = await self._run(partial(portal.purge, actor="gateway"))
                log.info("portal purge: %s", done)
            except asyncio.CancelledError:
                raise
            except Exception:  # deliberately broad, as above
                log.exception("the portal purge failed")
            await asyncio.sleep(self._resources().portal_settings.purge_interval_seconds)


__all__ = ["PortalWorker", "node_name", "prepare"]

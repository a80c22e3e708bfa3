"""Releasing a held message: through the same pipeline and relay as live mail, for the held recipients only.

Without ``unencrypted`` the policy decides again (a certificate imported since the hold now encrypts the copy;
still none: the release is refused and the message stays held). With it, the administrator takes the decision the
policy would not: the held recipients get the message without encryption (signed if the policy signs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import PolicyRefusal
from .held import HeldMessage, recipients_to_release
from .relay import Copy, DeliveryError, Relay
from .service import Gateway, copies_of, portal_notifications, record_notified


@dataclass(frozen=True)
class Released:
    message: HeldMessage
    recipients: tuple[str, ...]
    copies: int
    actions: tuple[str, ...]


async def _deliver(live: Relay, mail_from: str, copies: list[Copy]) -> None:
    """Through a relay of its own (its connections belong to this event loop), same next hop and journal."""
    relay = Relay(live.host, live.port, hostname=live.hostname, tls=live.tls, timeout=live.timeout,
                  journal=live.journal)
    try:
        await relay.deliver(mail_from, copies)
    finally:
        await relay.close()
    # Released in full: the administrator is told so, as a sender is by a 250; a later release is a new one.
    live.journal.forget([c.key for c in copies])


def _outcome(gateway: Gateway, message: HeldMessage, rcpts: list[str], unencrypted: bool) -> Released:
    digest = gateway.pipeline.held.digest_of(message)
    with open(message.path, "rb") as data:
        outcome = gateway.pipeline.process(
            message.mail_from, rcpts, data, message.size, may_sign=message.may_sign,
            digest=digest, release_unencrypted=rcpts if unencrypted else ())
        try:
            still = [r for r in outcome.held if r in rcpts]
            if still:
                raise PolicyRefusal(f"still held for {', '.join(still)}: no usable certificate yet "
                                    "(import one, or release --unencrypted)")
            copies = copies_of(outcome, digest, message.mail_from)
            try:
                asyncio.run(_deliver(gateway.relay, message.mail_from, copies))
            except DeliveryError as exc:  # not a policy's refusal: its own code (delivery-failed), still held
                record_notified(gateway.pipeline.resources, portal_notifications(
                    outcome, copies, lambda c: gateway.relay.journal.done(c.key)))
                raise DeliveryError(f"the next hop did not take the message: {exc.message}",
                                    permanent=exc.permanent) from None
            record_notified(gateway.pipeline.resources, portal_notifications(outcome, copies, lambda c: True))
            actions = tuple(outcome.actions)
            return Released(message, tuple(rcpts), len(copies), actions)
        finally:
            outcome.close()


def release(gateway: Gateway, held_id: str, *, unencrypted: bool = False, only: Sequence[str] = (),
            actor: str | None = None) -> Released:
    """Deliver a held message to its held recipients (or ``only`` some of them), then forget it."""
    store = gateway.pipeline.held
    message = store.get(held_id)
    rcpts = recipients_to_release(message, only)
    result = _outcome(gateway, message, rcpts, unencrypted)
    remaining = [r for r in message.recipients if r not in rcpts]
    if remaining:
        store.keep_only(message, remaining)
    else:
        store.delete(message.id)
    gateway.audit({"event": "release", "message_id": message.message_id or message.id, "held_id": message.id,
                   "recipients": len(rcpts), "unencrypted": unencrypted, "actions": list(result.actions)},
                  action="gateway.release", actor=actor)
    return result


__all__ = ["Released", "release"]

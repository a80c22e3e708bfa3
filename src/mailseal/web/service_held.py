"""The Held mail page and its REST endpoints, computed once for both: the held messages a page at a time, one with
its header, a release (the gateway audits it) and a deletion (audited here, as `mailseal held delete` does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..store import audit
from ..store.database import Store
from .held_port import HeldItem, HeldMail, ReleasedItem
from .service import MAX_PAGE

#: Why the page is empty when the console was started without the gateway's held messages (a UsageError that
#: starts with "no ": the API answers 404, the resource is not on this console).
NOT_HERE = ("no held mail here: this console was started without the gateway's held messages "
            "(run it with `mailseal serve`, or `mailseal web` with the gateway's settings file)")
DELETE_ACTION = "gateway.held-delete"


def available(held: HeldMail | None) -> HeldMail:
    if held is None:
        raise UsageError(NOT_HERE)
    return held


@dataclass(frozen=True)
class HeldPage:
    items: list[HeldItem]
    total: int
    limit: int
    offset: int
    next_offset: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"items": [i.to_dict() for i in self.items], "total": self.total, "limit": self.limit,
                "offset": self.offset, "next_offset": self.next_offset}


def held_page(held: HeldMail | None, *, limit: int = 50, offset: int = 0) -> HeldPage:
    """The held messages, oldest first, ``limit`` of them after skipping ``offset``."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    # held_at counts seconds: the id breaks ties, so that pages neither repeat nor skip a message
    every = sorted(available(held).list(), key=lambda m: (m.held_at, m.id))
    shown = every[offset:offset + limit]
    return HeldPage(shown, len(every), limit, offset, offset + limit if offset + limit < len(every) else None)


def held_message(held: HeldMail | None, held_id: str) -> HeldItem:
    return available(held).get(held_id)


def release(held: HeldMail | None, held_id: str, *, unencrypted: bool, only: Sequence[str],
            actor: str) -> ReleasedItem:
    """Through the policy again; ``unencrypted`` is the administrator's decision to send without encryption."""
    return available(held).release(held_id, unencrypted=unencrypted, only=[o for o in only if o], actor=actor)


def delete(held: HeldMail | None, store: Store, held_id: str, actor: str) -> HeldItem:
    gone = available(held).delete(held_id)
    with store.session() as session:
        audit.record(session, DELETE_ACTION, gone.message_id or gone.id,
                     {"held_id": gone.id, "recipients": list(gone.recipients)}, actor)
    return gone


__all__ = ["DELETE_ACTION", "NOT_HERE", "HeldPage", "available", "delete", "held_message", "held_page", "release"]

"""The audit log: every change to the store as one row (time, actor, action, subject, detail), and the queries
that read it back (`mailseal audit`)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, func, insert, or_, select

from .database import Store
from .tables import audit_log, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

_A = audit_log.c
#: Rows fetched per round trip while filtering or exporting: memory stays flat however long the log is.
PAGE = 500


def default_actor() -> str:
    """Who is acting: ``$MAILSEAL_ACTOR`` (set by the gateway and web), else the operating-system user."""
    actor = os.environ.get("MAILSEAL_ACTOR")
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no password entry for the uid (a container's bare uid), no $USER/$LOGNAME
        return "cli"


def record(session: Session, action: str, subject: str, detail: dict[str, Any] | None = None,
           actor: str | None = None, at: datetime | None = None) -> None:
    """Add an audit event in the caller's transaction, so it commits (or not) with the change it describes.
    ``at``: when it happened, for a record written later than that (the gateway's, held back while the database
    did not answer); now by default."""
    session.execute(insert(audit_log).values(time=at or utcnow(), actor=actor or default_actor(), action=action,
                                             subject=subject, detail=detail or {}))


@dataclass(frozen=True)
class Event:
    time: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time.isoformat().replace("+00:00", "Z"), "actor": self.actor,
                "action": self.action, "subject": self.subject, "detail": self.detail}

    @property
    def sender(self) -> str | None:
        """The envelope sender of a gateway message (``detail.from``), else None."""
        value = self.detail.get("from")
        return value if isinstance(value, str) else None

    @property
    def recipients(self) -> list[str]:
        """The envelope recipients of a gateway message (``detail.to``; records written before it have none)."""
        value = self.detail.get("to")
        return [str(v) for v in value] if isinstance(value, list) else []

    @property
    def result(self) -> str | None:
        value = self.detail.get("result")
        return value if isinstance(value, str) else None

    @property
    def message_actions(self) -> list[str]:
        """What the gateway did to a message (``detail.actions``: signed, encrypted, verified:valid, ...)."""
        value = self.detail.get("actions")
        return [str(v) for v in value] if isinstance(value, list) else []


def _event(row: Any) -> Event:
    return Event(row.time, row.actor, row.action, row.subject, dict(row.detail), row.id)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class AuditQuery:
    """Which events to read; every criterion given must hold.

    ``action`` is the event's action (``gateway.message``, ``keys.import``) or a prefix ending at a dot
    (``keys`` matches ``keys.import`` and ``keys.remove``); ``did`` is one of the gateway's message actions
    (``signed``, ``encrypted``, ``verified:valid``; ``verified`` matches every ``verified:STATUS``).
    Addresses are compared without regard to case. ``since`` is inclusive, ``until`` exclusive.
    """

    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    actor: str | None = None
    subject: str | None = None
    sender: str | None = None
    recipient: str | None = None
    result: str | None = None
    did: str | None = None

    def matches(self, event: Event) -> bool:
        """The criteria SQL cannot check alike on both backends (inside JSON lists, without case)."""
        if self.sender is not None and (event.sender or "").lower() != self.sender.lower():
            return False
        if self.recipient is not None and self.recipient.lower() not in {r.lower() for r in event.recipients}:
            return False
        if self.result is not None and event.result != self.result:
            return False
        return self.did is None or any(a == self.did or a.startswith(self.did + ":") for a in event.message_actions)

    def statement(self) -> Select[Any]:
        query = select(audit_log)
        if self.since is not None:
            query = query.where(_A.time >= self.since)
        if self.until is not None:
            query = query.where(_A.time < self.until)
        if self.action is not None:
            query = query.where(or_(_A.action == self.action,
                                    _A.action.like(_like_escape(self.action) + ".%", escape="\\")))
        if self.actor is not None:
            query = query.where(_A.actor == self.actor)
        if self.subject is not None:
            query = query.where(_A.subject == self.subject)
        # A coarse filter in SQL on the JSON text, the same on SQLite and PostgreSQL, so that only candidate rows
        # travel; matches() then decides exactly. (JSON escapes no printable ASCII but " and \, absent here.)
        text = func.lower(cast(_A.detail, Text))
        for needle in (self.sender, self.recipient, self.result, self.did):
            if needle is not None:
                query = query.where(text.like(f"%{_like_escape(needle.lower())}%", escape="\\"))
        return query


def events(store: Store, action: str | None = None, subject: str | None = None) -> list[Event]:
    """Audit events, oldest first, optionally only one action and/or subject."""
    query = select(audit_log).order_by(_A.id)
    if action is not None:
        query = query.where(_A.action == action)
    if subject is not None:
        query = query.where(_A.subject == subject)
    with store.lookup() as conn:
        return [_event(e) for e in conn.execute(query)]


def scan(store: Store, query: AuditQuery, *, newest_first: bool = False) -> Iterator[Event]:
    """Every event ``query`` matches, oldest first (or newest first), read a page at a time."""
    base = query.statement()
    last: int | None = None
    while True:
        page = base
        if last is not None:
            page = page.where(_A.id < last if newest_first else _A.id > last)
        page = page.order_by(_A.id.desc() if newest_first else _A.id).limit(PAGE)
        with store.lookup() as conn:
            rows = list(conn.execute(page))
        for row in rows:
            event = _event(row)
            if query.matches(event):
                yield event
        if len(rows) < PAGE:
            return
        last = rows[-1].id


def search(store: Store, query: AuditQuery, limit: int | None = None) -> list[Event]:
    """The newest ``limit`` events ``query`` matches (all when None), returned oldest first."""
    found: list[Event] = []
    for event in scan(store, query, newest_first=True):
        found.append(event)
        if limit is not None and len(found) >= limit:
            break
    found.reverse()
    return found


def get(store: Store, event_id: int) -> Event | None:
    """One event by its id (as `mailseal audit list` shows it)."""
    with store.lookup() as conn:
        row = conn.execute(select(audit_log).where(_A.id == event_id)).first()
    return None if row is None else _event(row)


__all__ = ["AuditQuery", "Event", "default_actor", "events", "get", "record", "scan", "search"]

"""The audit log: every change to the store as one row (time, actor, action, subject, detail)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from .database import Store
from .tables import audit_log, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def default_actor() -> str:
    """Who is acting: ``$MAILSEAL_ACTOR`` (set by the gateway and web), else the operating-system user."""
    actor = os.environ.get("MAILSEAL_ACTOR")
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def record(session: Session, action: str, subject: str, detail: dict[str, Any] | None = None,
           actor: str | None = None) -> None:
    """Add an audit event in the caller's transaction, so it commits (or not) with the change it describes."""
    session.execute(insert(audit_log).values(time=utcnow(), actor=actor or default_actor(), action=action,
                                             subject=subject, detail=detail or {}))


@dataclass(frozen=True)
class Event:
    time: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time.isoformat().replace("+00:00", "Z"), "actor": self.actor, "action": self.action,
                "subject": self.subject, "detail": self.detail}


def events(store: Store, action: str | None = None, subject: str | None = None) -> list[Event]:
    """Audit events, oldest first, optionally only one action and/or subject."""
    query = select(audit_log).order_by(audit_log.c.id)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    with store.lookup() as conn:
        return [Event(e.time, e.actor, e.action, e.subject, dict(e.detail)) for e in conn.execute(query)]


__all__ = ["Event", "default_actor", "events", "record"]

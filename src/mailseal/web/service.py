"""What the console's pages and its REST API show, computed once for both from the store (never SQL here: the
store's audit and expiry functions): the dashboard's counts, the audit log a page at a time, its CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..store import expiry
from ..store.audit import AuditQuery, Event, scan
from ..store.database import Store
from ..store.nodes import NodeHealth, nodes

#: The windows the dashboard counts over, longest last (the audit log is read once, for the longest).
WINDOWS = (("last hour", timedelta(hours=1)), ("last day", timedelta(days=1)), ("last 30 days", timedelta(days=30)))
#: What the dashboard counts, in the order its charts show.
KINDS = ("accepted", "signed", "encrypted", "decrypted", "verified: valid", "verified: failed", "held", "refused",
         "deferred")
FAILED_RESULTS = frozenset({"refused", "deferred"})
MESSAGE_ACTION = "gateway.message"
EXPIRY_WINDOW = timedelta(days=30)
MAX_PAGE = 500


def kinds_of(event: Event) -> set[str]:
    """What one gateway message counts as (several at once: accepted, signed and encrypted)."""
    found: set[str] = set()
    if event.result:
        found.add(event.result)
    for action in event.message_actions:
        if action in ("signed", "encrypted", "decrypted"):
            found.add(action)
        elif action.startswith("verified:"):
            found.add("verified: valid" if action == "verified:valid" else "verified: failed")
    held = event.detail.get("held")
    if isinstance(held, int) and held > 0:
        found.add("held")
    return found & set(KINDS)


@dataclass(frozen=True)
class Window:
    label: str
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "counts": self.counts}


@dataclass(frozen=True)
class Dashboard:
    at: datetime
    windows: list[Window]
    expiring: list[dict[str, Any]]
    failures: list[Event] = field(default_factory=list)
    gateways: list[NodeHealth] = field(default_factory=list)  # every node's last heartbeat (store/nodes.py)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat().replace("+00:00", "Z"), "windows": [w.to_dict() for w in self.windows],
                "expiring": self.expiring, "failures": [failure_dict(e) for e in self.failures],
                "gateways": [n.to_dict(self.at) for n in self.gateways]}


def failure_dict(event: Event) -> dict[str, Any]:
    reason = event.detail.get("reason")
    return {"id": event.id, "time": event.time.isoformat().replace("+00:00", "Z"), "subject": event.subject,
            "result": event.result or "", "reason": reason if isinstance(reason, str) else "",
            "from": event.sender or ""}


def dashboard(store: Store, now: datetime, *, failures: int = 10, ca_directory: Path | None = None) -> Dashboard:
    """Messages by kind over each window, what ends within 30 days (not superseded), the newest failures."""
    counters = {label: Counter[str]() for label, _ in WINDOWS}
    recent: list[Event] = []
    longest = max(span for _, span in WINDOWS)
    query = AuditQuery(since=now - longest, until=now + timedelta(seconds=1), action=MESSAGE_ACTION)
    for event in scan(store, query, newest_first=True):
        kinds = kinds_of(event)
        for label, span in WINDOWS:
            if event.time >= now - span:
                counters[label].update(kinds)
        if event.result in FAILED_RESULTS and len(recent) < failures:
            recent.append(event)
    windows = [Window(label, {k: counters[label][k] for k in KINDS}) for label, _ in WINDOWS]
    items = expiry.needing_attention(expiry.collect(store, within=EXPIRY_WINDOW, at=now, ca_directory=ca_directory,
                                                    kinds=("ca", "issued", "identity", "directory", "anchor",
                                                           "intermediate")))
    return Dashboard(now, windows, [i.to_dict(now) for i in items], recent, nodes(store))


@dataclass(frozen=True)
class AuditPage:
    events: list[Event]
    limit: int
    offset: int
    next_offset: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"items": [e.to_dict() for e in self.events], "limit": self.limit, "offset": self.offset,
                "next_offset": self.next_offset}


def audit_page(store: Store, query: AuditQuery, *, limit: int = 50, offset: int = 0) -> AuditPage:
    """The events ``query`` matches, newest first, ``limit`` of them after skipping ``offset``."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    found: list[Event] = []
    for index, event in enumerate(scan(store, query, newest_first=True)):
        if index < offset:
            continue
        if len(found) == limit:
            return AuditPage(found, limit, offset, offset + limit)
        found.append(event)
    return AuditPage(found, limit, offset, None)


CSV_COLUMNS = ("id", "time", "actor", "action", "subject", "detail")


def audit_csv(store: Store, query: AuditQuery) -> Iterator[str]:
    """Every event ``query`` matches, oldest first, as CSV lines (RFC 4180), the detail as JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in scan(store, query):
        row = event.to_dict()
        writer.writerow([row["id"], row["time"], row["actor"], row["action"], _safe(row["subject"]),
                         json.dumps(row["detail"], sort_keys=True)])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _safe(value: str) -> str:
    # A cell a spreadsheet would run as a formula (OWASP "CSV injection") is quoted with a leading apostrophe.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


__all__ = ["KINDS", "WINDOWS", "AuditPage", "Dashboard", "audit_csv", "audit_page", "dashboard", "kinds_of"]

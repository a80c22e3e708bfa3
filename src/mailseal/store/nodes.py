"""Gateway nodes' health as each reports it (``gateway/heartbeat.py``), read by the console's dashboard from the
shared store: any node's console shows every node, and a node that stopped reporting shows as silent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from .database import Store
from .tables import gateway_nodes

#: A node is *silent* once it has missed this many heartbeats.
SILENT_AFTER = 3


@dataclass(frozen=True)
class NodeHealth:
    """One node's report: who, since when, its next hop as last probed, its load and its messages since start."""

    name: str
    version: str
    listen: str
    started: datetime
    last_seen: datetime
    interval_seconds: int
    next_hop: str | None
    next_hop_ok: bool | None  # None: no next hop configured, or not probed yet
    next_hop_detail: str | None
    connections: int
    in_flight: int
    waiting: int
    accepted: int
    refused: int
    deferred: int

    def silent(self, now: datetime) -> bool:
        """True when the node missed SILENT_AFTER heartbeats (stopped, killed, or cut off from the store)."""
        return now - self.last_seen > timedelta(seconds=SILENT_AFTER * max(1, self.interval_seconds))

    def to_dict(self, now: datetime) -> dict[str, Any]:
        out = asdict(self)
        for key in ("started", "last_seen"):
            out[key] = out[key].isoformat().replace("+00:00", "Z")
        out["silent"] = self.silent(now)
        return out


def report(store: Store, health: NodeHealth) -> None:
    """Replace the node's row with ``health`` (one transaction: readers see the old row or the new one)."""
    with store.session() as session:
        session.execute(delete(gateway_nodes).where(gateway_nodes.c.name == health.name))
        session.execute(insert(gateway_nodes).values(**asdict(health)))


def forget(store: Store, name: str) -> bool:
    """Remove a node that is gone for good (the dashboard would show it silent forever); True when it existed."""
    with store.session() as session:
        result = session.execute(delete(gateway_nodes).where(gateway_nodes.c.name == name))
    return bool(getattr(result, "rowcount", 0))


def nodes(store: Store) -> list[NodeHealth]:
    """Every node that has reported, by name."""
    with store.lookup() as conn:
        rows = conn.execute(select(gateway_nodes).order_by(gateway_nodes.c.name)).mappings().all()
    return [NodeHealth(**dict(row)) for row in rows]


__all__ = ["SILENT_AFTER", "NodeHealth", "forget", "nodes", "report"]

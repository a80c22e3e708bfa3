"""Gateway nodes' health in the shared store (store/nodes.py): reported, replaced, read by any node, silent when
a node stops reporting (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mailseal.store import Store
from mailseal.store.nodes import NodeHealth, forget, nodes, report

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _health(name: str, **changes: object) -> NodeHealth:
    base = NodeHealth(name=name, version="0.1.0", listen="127.0.0.1:2525", started=NOW - timedelta(hours=1),
                      last_seen=NOW, interval_seconds=30, next_hop="127.0.0.1:10026", next_hop_ok=True,
                      next_hop_detail="220 sink ESMTP", connections=3, in_flight=1, waiting=0, accepted=120,
                      refused=4, deferred=1)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_report_replaces_the_nodes_previous_one_and_both_nodes_are_seen(store: Store) -> None:
    report(store, _health("mx1"))
    report(store, _health("mx2", next_hop_ok=False, next_hop_detail="connection refused"))
    report(store, _health("mx1", accepted=121, last_seen=NOW + timedelta(seconds=30)))
    found = {n.name: n for n in nodes(store)}
    assert sorted(found) == ["mx1", "mx2"]
    assert found["mx1"].accepted == 121 and found["mx1"].last_seen == NOW + timedelta(seconds=30)
    assert found["mx2"].next_hop_ok is False and found["mx2"].next_hop_detail == "connection refused"
    assert found["mx1"].started == NOW - timedelta(hours=1)  # times come back aware, in UTC


def test_a_node_that_missed_three_heartbeats_is_silent(store: Store) -> None:
    report(store, _health("mx1", interval_seconds=30))
    (node,) = nodes(store)
    assert not node.silent(NOW + timedelta(seconds=90))
    assert node.silent(NOW + timedelta(seconds=91))
    assert node.to_dict(NOW + timedelta(minutes=5))["silent"] is True
    assert node.to_dict(NOW)["last_seen"] == "2026-12-07T12:00:00Z"


def test_forget_removes_a_node_gone_for_good(store: Store) -> None:
    report(store, _health("old"))
    assert forget(store, "old") is True and nodes(store) == []
    assert forget(store, "old") is False

"""The dashboard's gateway health: every node's last heartbeat from the shared store, a silent node and an
unreachable next hop said in words and icons, the same in the API."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from mailseal.store.nodes import NodeHealth, report
from tests.web.conftest import Console


def _node(console: Console, name: str, *, seen_ago: int, hop_ok: bool | None) -> None:
    now = console.clock.now
    report(console.store, NodeHealth(
        name=name, version="0.1.0", listen="127.0.0.1:2525", started=now - timedelta(hours=2),
        last_seen=now - timedelta(seconds=seen_ago), interval_seconds=30, next_hop="127.0.0.1:10026",
        next_hop_ok=hop_ok, next_hop_detail=None if hop_ok else "cannot connect: Connection refused",
        connections=2, in_flight=1, waiting=0, accepted=42, refused=3, deferred=1))


def test_the_dashboard_shows_each_node_and_a_silent_one(console: Console, root: TestClient) -> None:
    assert "No gateway node has reported yet" in root.get("/").text
    _node(console, "mx1", seen_ago=10, hop_ok=True)
    _node(console, "mx2", seen_ago=600, hop_ok=False)
    page = root.get("/").text
    mx1 = page.split('id="node-mx1"')[1].split("</tr>")[0]
    mx2 = page.split('id="node-mx2"')[1].split("</tr>")[0]
    assert "✓" in mx1 and "127.0.0.1:10026 reachable" in mx1 and "42 · 3 · 1" in mx1
    assert "✗ silent since" in mx2 and "unreachable" in mx2 and "Connection refused" in mx2
    body = root.get("/api/v1/dashboard").json()
    found = {g["name"]: g for g in body["gateways"]}
    assert found["mx1"]["silent"] is False and found["mx2"]["silent"] is True
    assert found["mx2"]["next_hop_ok"] is False and found["mx1"]["accepted"] == 42


def test_a_standalone_nodes_failing_resolver_is_shown(console: Console, root: TestClient) -> None:
    # A standalone node reports its DNS resolver where a next hop would be (gateway/heartbeat.py).
    now = console.clock.now
    report(console.store, NodeHealth(
        name="mx3", version="0.1.0", listen="0.0.0.0:25", started=now - timedelta(hours=1), last_seen=now,
        interval_seconds=30, next_hop="DNS 127.0.0.1:53 (DNSSEC)", next_hop_ok=False,
        next_hop_detail="127.0.0.1:53 does not validate DNSSEC (no AD bit on its answer for . DNSKEY): DANE cannot "
                        "apply", connections=0, in_flight=0, waiting=0, accepted=0, refused=0, deferred=0))
    mx3 = root.get("/").text.split('id="node-mx3"')[1].split("</tr>")[0]
    assert "✗ DNS 127.0.0.1:53 (DNSSEC) failing" in mx3 and "does not validate DNSSEC" in mx3
    assert "unreachable" not in mx3

"""Faults in the cluster of tests/support/cluster.py, each under load through Postfix: a node SIGKILLed, PostgreSQL
restarted, a node started while the database is down, the network to a node cut. Every message that went in comes
out at the sink; a message comes out twice only in SMTP's one gap (a node relayed it, then died before its 250
reached Postfix, which therefore sent it again), and each such copy is checked to have passed the failed node.
docs/cluster.md#faults says what each test shows."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from mailseal.store import audit
from tests.support.cluster import Cluster, Node, message_id, outbound, send, via_node, wait_for_ids
from tests.support.smtp_sink import ReceivedMessage

pytestmark = pytest.mark.cluster


def _load(cluster: Cluster, tag: str, count: int) -> tuple[set[str], threading.Thread, list[list[tuple[int, bytes]]]]:
    """Send ``count`` messages into Postfix in the background (one connection)."""
    messages = outbound(count, tag)
    replies: list[list[tuple[int, bytes]]] = []
    thread = threading.Thread(target=lambda: replies.append(send(cluster.postfix.public_address, messages)))
    thread.start()
    return {f"<{tag}.{n}@cluster.test>" for n in range(count)}, thread, replies


def _arrived(cluster: Cluster, ids: set[str], predicate: Callable[[list[ReceivedMessage]], bool],
             timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate([m for m in cluster.received() if message_id(m) in ids]):
        assert time.monotonic() < deadline, "the load did not get going"
        time.sleep(0.05)


def _exactly_once(cluster: Cluster, got: list[ReceivedMessage], ids: set[str], failed: str | None
                  ) -> Counter[str]:
    """Every message arrived; a repeated one passed the failed node (SMTP's gap). The repeats, counted."""
    counts = Counter(message_id(m) for m in got)
    assert set(counts) == ids
    repeated = Counter({k: n - 1 for k, n in counts.items() if n > 1})
    for key in repeated:
        assert failed is not None and failed in {via_node(m) for m in got if message_id(m) == key}, \
            _story(cluster, key)
    return repeated


def _story(cluster: Cluster, key: str) -> str:
    """What Postfix and the nodes logged about one message (for a failure's explanation)."""
    maillog = cluster.postfix.maillog().splitlines()
    queue_ids = {line.split(": ")[1] for line in maillog if key in line and ": " in line}
    lines = [line for line in maillog if any(q in line for q in queue_ids)]
    for node in cluster.nodes.values():
        lines += [f"node {node.name}: {line[:400]}" for line in node.log_text().splitlines() if key in line]
    return f"{key} arrived more than once:\n" + "\n".join(lines)


def test_a_node_killed_mid_load_loses_nothing(healthy: Cluster) -> None:
    cluster = healthy
    ids, sender, replies = _load(cluster, "kill", 60)
    # Kill node b once it has handled a few of them: whatever it held is retried by Postfix on node a.
    _arrived(cluster, ids, lambda got: sum(via_node(m) == "b" for m in got) >= 3)
    cluster.nodes["b"].kill()
    sender.join(60)
    assert all(code == 250 for code, _ in replies[0])  # Postfix took every message: its queue is the safety net
    got = wait_for_ids(cluster, ids)
    repeated = _exactly_once(cluster, got, ids, "b")
    # Only what b had in hand when it died can repeat: at most its concurrent deliveries (Postfix: 10 processes).
    assert sum(repeated.values()) <= 10, repeated
    after = [m for m in got if via_node(m) == "a"]
    assert after, "node a took over"


def test_postgresql_restarted_mid_load_loses_nothing(healthy: Cluster) -> None:
    cluster = healthy
    ids, sender, replies = _load(cluster, "pgrestart", 40)
    _arrived(cluster, ids, lambda got: len(got) >= 5)
    cluster.pg.halt()
    try:
        # The nodes notice: the readiness probe says what is wrong (a load balancer stops sending them mail).
        node = cluster.nodes["a"]
        deadline = time.monotonic() + 15
        while (probe := node.probe())[0] != 503:
            assert time.monotonic() < deadline, probe
            time.sleep(0.2)
        assert "store unreachable" in probe[1]
        time.sleep(1)
    finally:
        cluster.pg.resume()
    sender.join(60)
    assert all(code == 250 for code, _ in replies[0])
    got = wait_for_ids(cluster, ids)
    # No node failed: none was sent twice (the nodes answered from what they had cached, or 4xx and Postfix
    # retried).
    assert _exactly_once(cluster, got, ids, None) == Counter()
    for node in cluster.nodes.values():
        node.wait_ready(30)
    # The audit records written while the database was down waited for it (gateway/auditlog.py): none is lost.
    store = cluster.store()
    try:
        deadline = time.monotonic() + 60
        while len(audited := {e.subject for e in audit.events(store, action="gateway.message")} & ids) < len(ids):
            assert time.monotonic() < deadline, sorted(ids - audited)
            time.sleep(0.5)
    finally:
        store.close()


def test_a_node_started_while_the_database_is_down_waits_then_serves(healthy: Cluster) -> None:
    cluster = healthy
    node = cluster.nodes["b"]
    node.kill()
    cluster.pg.halt()
    try:
        before = len(node.log_text())
        node.start(wait=False)
        deadline = time.monotonic() + 60
        while "waiting for the store database" not in node.log_text()[before:]:
            assert node.proc is not None and node.proc.poll() is None, node.log_tail()
            assert time.monotonic() < deadline, node.log_tail()
            time.sleep(0.2)
        assert node.probe()[0] != 200  # not serving yet
    finally:
        cluster.pg.resume()
    node.wait_ready(60)
    [data] = outbound(1, "late-start")
    assert send(node.smtp_address, [data]) == [(250, b"")]
    [got] = wait_for_ids(cluster, {"<late-start.0@cluster.test>"})
    assert via_node(got) == "b"


def _probe_inside(node: Node) -> str:
    """/readyz as the node itself sees it (from its own host: its loopback works while its cable is cut)."""
    script = ("import urllib.request, urllib.error, sys\n"
              f"try: r = urllib.request.urlopen('http://{node.host.address}:9125/readyz', timeout=30)\n"
              "except urllib.error.HTTPError as e: print(e.code, e.read().decode())\n"
              "else: print(r.status, r.read().decode())\n")
    return node.host.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60).stdout


def test_the_network_to_a_node_cut_mid_load_loses_nothing(healthy: Cluster) -> None:
    cluster = healthy
    node = cluster.nodes["b"]
    ids, sender, replies = _load(cluster, "cut", 30)
    _arrived(cluster, ids, lambda got: sum(via_node(m) == "b" for m in got) >= 2)
    node.host.cut()
    sender.join(60)
    assert all(code == 250 for code, _ in replies[0])
    # Postfix's connections to b time out and it tries a; b itself says it is not ready (no database).
    assert node.probe()[0] == 0  # unreachable from outside
    inside = _probe_inside(node)
    assert inside.startswith("503") and "store unreachable" in inside, inside
    got = wait_for_ids(cluster, ids, timeout=120)
    _exactly_once(cluster, got, ids, "b")
    node.host.mend()
    node.wait_ready(60)  # back: its store connections made again
    [data] = outbound(1, "mended")
    assert send(node.smtp_address, [data]) == [(250, b"")]
    assert via_node(wait_for_ids(cluster, {"<mended.0@cluster.test>"})[0]) == "b"

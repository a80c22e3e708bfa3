"""gateway/nodecounts.py: connection counts shared by a node's front-end processes, and the ConnectionGate's
node-wide limits over them (the counts live in shared memory: a forked process writes, this one reads)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from mailseal.gateway import status
from mailseal.gateway.limits import ConnectionGate
from mailseal.gateway.nodecounts import NodeCounts


def _in_other_front_end(counts: NodeCounts, index: int, clients: list[str], spool: Path, limit: int,
                        per_client: int) -> None:
    """A forked front-end ``index`` admits one connection per entry of ``clients`` and exits (its counts stay in
    the shared memory, as a living front-end's would)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's exit status is what the parent checks
        code = 1
        try:
            gate = ConnectionGate(limit, spool, per_client=per_client)
            gate.share(counts.attach(index))
            code = 0 if all(gate.enter(c) is None for c in clients) else 3
        finally:
            os._exit(code)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0


def test_the_limits_count_the_other_front_ends(tmp_path: Path) -> None:
    counts = NodeCounts(2)
    _in_other_front_end(counts, 1, ["192.0.2.1", "192.0.2.1", "192.0.2.2"], tmp_path, limit=4, per_client=2)
    assert counts.total() == 3 and counts.of_client(counts.bucket("192.0.2.1")) == 2
    gate = ConnectionGate(4, tmp_path, per_client=2)
    gate.share(counts.attach(0))
    # 192.0.2.1 holds its 2 on the other front-end: refused here although this one holds none.
    assert gate.enter("192.0.2.1") == status.TOO_MANY_FROM_CLIENT
    assert gate.enter("192.0.2.3") is None  # the node's 4th
    assert counts.total() == 4 and gate.active == 1
    assert gate.enter("192.0.2.4") == status.TOO_MANY_CONNECTIONS and gate.stressed
    # The other front-end died: the supervisor clears its row, its connections no longer count.
    counts.clear(1)
    assert counts.total() == 1 and not gate.stressed
    assert gate.enter("192.0.2.1") is None and gate.enter("192.0.2.1") is None
    assert gate.enter("192.0.2.1") == status.TOO_MANY_FROM_CLIENT
    gate.leave("192.0.2.1")
    gate.leave("192.0.2.3")
    assert counts.total() == 1 and counts.of_client(counts.bucket("192.0.2.1")) == 1


def test_exempt_clients_count_only_against_the_node_limit(tmp_path: Path) -> None:
    counts = NodeCounts(2)
    _in_other_front_end(counts, 1, ["127.0.0.1", "127.0.0.1"], tmp_path, limit=3, per_client=2)
    gate = ConnectionGate(3, tmp_path, per_client=1, exempt=(ipaddress.ip_network("127.0.0.0/8"),))
    gate.share(counts.attach(0))
    assert gate.enter("127.0.0.1") is None  # exempt from per_client, but the node's 3rd
    assert gate.enter("127.0.0.1") == status.TOO_MANY_CONNECTIONS
    gate.leave("127.0.0.1")
    assert counts.total() == 2


def test_buckets_are_keyed_per_node() -> None:
    """The client's bucket depends on a random key of the node: no one can pick addresses that fall in a given
    client's bucket on every node."""
    clients = [f"198.51.100.{i}" for i in range(64)]
    first, second = NodeCounts(1), NodeCounts(1)
    assert [first.bucket(c) for c in clients] != [second.bucket(c) for c in clients]
    assert all(1 <= first.bucket(c) <= first.buckets for c in clients)


@pytest.mark.parametrize(("processes", "index"), [(0, 0), (2, 2), (2, -1)])
def test_a_wrong_front_end_number_is_refused(processes: int, index: int) -> None:
    with pytest.raises(ValueError):
        NodeCounts(processes).attach(index)

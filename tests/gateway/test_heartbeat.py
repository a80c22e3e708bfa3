"""The gateway's heartbeat (gateway/heartbeat.py): the next hop probed over a real socket, the node's load and its
messages since start written to the shared store, where the console reads them."""

from __future__ import annotations

import asyncio
import email.policy
import smtplib

from mailseal.gateway.heartbeat import Heartbeat, probe_next_hop
from mailseal.store.nodes import nodes
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import message
from tests.support.smtp_sink import SmtpSink, free_port


def test_probe_reads_the_greeting_and_names_a_refusal(sink: SmtpSink) -> None:
    ok, said = asyncio.run(probe_next_hop(*sink.address))
    assert ok and said.startswith("220")
    ok, said = asyncio.run(probe_next_hop("127.0.0.1", free_port(), timeout=5))
    assert not ok and said.startswith("cannot connect")


def test_a_beat_reports_the_node_with_its_messages_and_next_hop(start_gateway: StartGateway,
                                                                sink: SmtpSink) -> None:
    gw = start_gateway({"gateway": {"node_name": "mx-test-1", "health_interval_seconds": 30}})
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
        for i in range(2):
            client.sendmail("alice@example.org", ["bob@example.org"],
                            message("alice@example.org", ["bob@example.org"], f"n{i}").as_bytes(
                                policy=email.policy.SMTP))
    sink.wait_for(2)
    beat = asyncio.run_coroutine_threadsafe(Heartbeat(gw.gateway).beat(), gw._loop).result(30)
    assert beat.name == "mx-test-1" and beat.accepted == 2 and beat.refused == 0
    (stored,) = nodes(gw.store)
    assert stored.name == "mx-test-1" and stored.accepted == 2 and stored.interval_seconds == 30
    assert stored.next_hop == "{}:{}".format(*sink.address) and stored.next_hop_ok is True
    assert stored.listen.endswith(f":{gw.port}") and not stored.silent(stored.last_seen)


def test_an_unreachable_next_hop_is_reported(start_gateway: StartGateway) -> None:
    gw = start_gateway({"gateway": {"node_name": "mx-test-2"}}, next_hop=("127.0.0.1", free_port()))
    asyncio.run_coroutine_threadsafe(Heartbeat(gw.gateway).beat(), gw._loop).result(30)
    (stored,) = nodes(gw.store)
    assert stored.next_hop_ok is False and "cannot connect" in (stored.next_hop_detail or "")

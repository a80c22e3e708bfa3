"""The delivery journal serves the retry after a failure only: a transaction answered 250 is forgotten, so the
same message sent again is delivered again; copies accepted while the sender got a 4xx, or lost the connection
before the reply, are not sent twice on the retry; entries expire."""

from __future__ import annotations

import asyncio
import email.policy
import os
import smtplib
import time
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailseal.gateway.relay import MAX_AGE, Journal
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import RawClient, message
from tests.support.smtp_sink import SmtpSink, free_port


def test_the_same_message_twice_is_delivered_twice(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway()
    data = message("carol@partner.example", ["alice@example.org"]).as_bytes(policy=email.policy.SMTP)
    for _ in range(3):
        assert gw.send(data, "carol@partner.example", ["alice@example.org"]) == {}
    assert len(sink.wait_for(3)) == 3
    assert list((gw.gateway.settings.spool_dir / "delivered").iterdir()) == []


class _Hop:
    """A next hop that refuses chosen recipients with 4xx, or answers slowly."""

    def __init__(self) -> None:
        self.fail_for: set[str] = set()
        self.delay = 0.0
        self.received: list[list[str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        if set(envelope.rcpt_tos) & self.fail_for:
            return "451 4.3.0 try later"
        self.received.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def hop() -> Any:
    handler = _Hop()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.address = ("127.0.0.1", port)  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def test_retry_skips_copies_delivered_before_a_4xx_then_forgets(start_gateway: StartGateway, hop: Any) -> None:
    gw = start_gateway(next_hop=hop.address)
    rcpts = ["carol@partner.example", "dave@partner.example"]  # two treatments: two copies
    data = message("alice@example.org", rcpts).as_bytes(policy=email.policy.SMTP)
    hop.fail_for = {"dave@partner.example"}
    with pytest.raises(smtplib.SMTPDataError):
        gw.send(data, "alice@example.org", rcpts)
    assert hop.received == [["carol@partner.example"]]
    hop.fail_for = set()
    assert gw.send(data, "alice@example.org", rcpts) == {}  # the retry: only the missing copy
    assert hop.received == [["carol@partner.example"], ["dave@partner.example"]]
    assert gw.send(data, "alice@example.org", rcpts) == {}  # answered 250 before: a new message
    assert sorted(map(tuple, hop.received[2:])) == [("carol@partner.example",), ("dave@partner.example",)]


def test_sender_lost_before_the_reply_retries_without_duplicate(start_gateway: StartGateway, hop: Any) -> None:
    gw = start_gateway(next_hop=hop.address)
    data = message("carol@partner.example", ["alice@example.org"]).as_bytes(policy=email.policy.SMTP)
    hop.delay = 1.0
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250
    assert client.command("MAIL FROM:<carol@partner.example>")[0] == 250
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(data + b".\r\n")
    client.close()  # gone before the gateway could answer
    deadline = time.monotonic() + 20
    while not hop.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hop.received == [["alice@example.org"]]  # the gateway finished the message all the same
    hop.delay = 0.0
    time.sleep(0.3)  # its journal entry is written right after the next hop's 250
    assert gw.send(data, "carol@partner.example", ["alice@example.org"]) == {}  # the sender's retry
    assert hop.received == [["alice@example.org"]]  # not delivered twice
    assert gw.send(data, "carol@partner.example", ["alice@example.org"]) == {}  # a new submission
    assert hop.received == [["alice@example.org"], ["alice@example.org"]]


def test_old_entries_expire(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "delivered")
    journal.record("old")
    journal.record("new")
    past = time.time() - MAX_AGE - 60
    os.utime(tmp_path / "delivered" / "old", (past, past))
    assert journal.prune() == 1
    assert not journal.done("old") and journal.done("new")
    journal.forget(["new", "never-there"])
    assert not journal.done("new")

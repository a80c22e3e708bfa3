"""A real Postfix with an after-queue content filter (docs/deploy.md, mode a): mail passes the filter once, no loss.

The filter here is a stand-in: an aiosmtpd pass-through that adds ``X-Filtered: yes`` and re-injects with
aiosmtplib, answering 250 only once re-injection succeeded and 451 otherwise (the contract ``mailseal serve`` keeps).
To run these tests against the real gateway, point ``start_filter`` at a launcher of ``mailseal serve`` with the
same signature: ``start_filter(listen, next_hop)`` -> context manager that runs the filter until exit and yields a
:class:`RunningFilter` (its address and the headers it adds, which the delivery checks look for).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from tests.support.postfix import MYHOSTNAME, PostfixInstance, process_running, running_postfix
from tests.support.smtp_sink import SmtpSink, free_port

Address = tuple[str, int]

SENDER = "alice@example.net"
RECIPIENT = "bob@example.org"
#: Long enough for one deferral plus one retry with the test timers (1 s backoff), with room for a slow CI host.
DELIVERY_TIMEOUT = 20.0


# -- the stand-in filter ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningFilter:
    """What a filter launcher yields: where it listens and the headers it adds to every message it passes."""

    address: Address
    adds_headers: tuple[tuple[str, str], ...] = ()


STAND_IN_HEADER = ("X-Filtered", "yes")


class _PassThrough:
    """handle_DATA: add the header, re-inject to ``next_hop``; 250 after re-injection succeeded, else 451."""

    def __init__(self, next_hop: Address) -> None:
        self.next_hop = next_hop

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name, value = STAND_IN_HEADER
        content = envelope.original_content if envelope.original_content is not None else envelope.content
        filtered = f"{name}: {value}\r\n".encode() + bytes(content)
        host, port = self.next_hop
        try:
            await aiosmtplib.send(
                filtered, sender=envelope.mail_from, recipients=envelope.rcpt_tos, hostname=host, port=port,
                local_hostname="filter.mailseal.test", start_tls=False, timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:  # TimeoutError is an OSError
            # Postfix keeps the message queued on a 4xx and retries: a failed re-injection loses nothing.
            return f"451 4.3.0 re-injection failed: {type(exc).__name__}"
        return "250 2.0.0 Ok: filtered and re-injected"


@contextlib.contextmanager
def start_stand_in_filter(listen: Address, next_hop: Address) -> Iterator[RunningFilter]:
    """Run the stand-in filter on ``listen``, re-injecting to ``next_hop``, until the block exits."""
    host, port = listen
    controller = Controller(_PassThrough(next_hop), hostname=host, port=port, server_hostname="filter.mailseal.test")
    controller.start()
    try:
        yield RunningFilter(listen, adds_headers=(STAND_IN_HEADER,))
    finally:
        controller.stop()


#: What Postfix hands mail to. Swap for a `mailseal serve` launcher (same signature) to test the real gateway.
start_filter = start_stand_in_filter


# -- fixtures and helpers -----------------------------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture
def filter_address() -> Address:
    return ("127.0.0.1", free_port())


@pytest.fixture
def postfix(sink: SmtpSink, filter_address: Address) -> Iterator[PostfixInstance]:
    with running_postfix(filter_address=filter_address, sink_address=sink.address) as instance:
        yield instance


@pytest.fixture
def content_filter(postfix: PostfixInstance, filter_address: Address) -> Iterator[RunningFilter]:
    with start_filter(filter_address, postfix.reinject_address) as running:
        yield running


def make_message(subject: str = "Hello") -> bytes:
    return (
        f"From: Alice <{SENDER}>\r\nTo: Bob <{RECIPIENT}>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@mailseal.test>\r\nDate: Thu, 01 Jan 2026 12:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob!\r\n"
    ).encode()


def deferred_with(fragment: str) -> Callable[[list[dict[str, Any]]], bool]:
    """A queue predicate: some recipient is deferred with ``fragment`` in its delay reason."""

    def predicate(entries: list[dict[str, Any]]) -> bool:
        return any(
            entry.get("queue_name") == "deferred" and fragment in rcpt.get("delay_reason", "")
            for entry in entries
            for rcpt in entry.get("recipients", [])
        )

    return predicate


def assert_delivered_once(postfix: PostfixInstance, sink: SmtpSink, message_id: str, through: RunningFilter) -> None:
    """The sink got the message, filtered, and (once Postfix's queue is empty: no delivery can follow) only once."""
    sink.wait_for(1, timeout=DELIVERY_TIMEOUT)
    postfix.wait_queue_empty(timeout=DELIVERY_TIMEOUT)
    copies = [m for m in sink.messages if m.header("Message-ID") == [message_id]]
    assert len(copies) == 1, f"{len(copies)} copies of {message_id} delivered"
    [copy] = copies
    # Two passes through Postfix's smtpd: the public port, then the re-injection port behind the filter.
    assert sum(f"by {MYHOSTNAME} " in value for value in copy.header("Received")) == 2, copy.header("Received")
    for name, value in through.adds_headers:
        assert value in copy.header(name), f"{name}: {value} missing"
    assert copy.mail_from == SENDER and copy.rcpt_tos == [RECIPIENT]


def message_id(message: bytes) -> str:
    return next(line.split(b":", 1)[1].strip().decode() for line in message.splitlines() if line.startswith(b"Message-ID:"))


# -- tests --------------------------------------------------------------------------------------------------------


def test_generated_config_passes_postfix_check_without_warnings(postfix: PostfixInstance) -> None:
    assert postfix.check_warnings == []


def test_mail_passes_the_filter_and_reaches_the_sink_once(
    postfix: PostfixInstance, sink: SmtpSink, content_filter: RunningFilter
) -> None:
    message = make_message()
    postfix.send(message, SENDER, [RECIPIENT])
    assert_delivered_once(postfix, sink, message_id(message), content_filter)
    # Postfix handed it to the filter's transport first, then delivered the re-injected copy to the sink.
    postfix.wait_for_log(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{content_filter.address[1]},.*status=sent")
    postfix.wait_for_log(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{sink.port},.*status=sent")


def test_several_messages_each_delivered_once(
    postfix: PostfixInstance, sink: SmtpSink, content_filter: RunningFilter
) -> None:
    messages = [make_message(f"Message {i}") for i in range(3)]
    for message in messages:
        postfix.send(message, SENDER, [RECIPIENT])
    sink.wait_for(3, timeout=DELIVERY_TIMEOUT)
    postfix.wait_queue_empty(timeout=DELIVERY_TIMEOUT)
    received = sorted(m.header("Message-ID")[0] for m in sink.messages)
    assert received == sorted(message_id(m) for m in messages)


def test_filter_answering_451_keeps_mail_queued_until_it_works_again(
    postfix: PostfixInstance, sink: SmtpSink, filter_address: Address
) -> None:
    message = make_message()
    nowhere = ("127.0.0.1", free_port())
    # Re-injection fails (nothing listens on the next hop), so the filter answers 451 after DATA.
    with start_filter(filter_address, nowhere):
        postfix.send(message, SENDER, [RECIPIENT])
        postfix.wait_for_queue(deferred_with("451"), timeout=DELIVERY_TIMEOUT, what="a deferral with 451")
        assert sink.messages == []
    with start_filter(filter_address, postfix.reinject_address) as working:
        assert_delivered_once(postfix, sink, message_id(message), working)


def test_filter_down_keeps_mail_queued_until_it_starts(
    postfix: PostfixInstance, sink: SmtpSink, filter_address: Address
) -> None:
    message = make_message()
    postfix.send(message, SENDER, [RECIPIENT])
    postfix.wait_for_queue(deferred_with("Connection refused"), timeout=DELIVERY_TIMEOUT, what="a refused connection")
    assert sink.messages == []
    with start_filter(filter_address, postfix.reinject_address) as working:
        assert_delivered_once(postfix, sink, message_id(message), working)


def test_two_private_instances_run_side_by_side_and_stop_cleanly(postfix: PostfixInstance, sink: SmtpSink) -> None:
    with running_postfix(filter_address=("127.0.0.1", free_port()), sink_address=sink.address) as second:
        assert second.root != postfix.root and second.public_port != postfix.public_port
        assert postfix.queue() == [] and second.queue() == []
        master = second.master_pid
        assert master is not None and process_running(master)
    assert not process_running(master)
    assert not second.root.exists()
    with pytest.raises(OSError):
        # Nothing listens on the stopped instance's public port any more.
        asyncio.run(asyncio.wait_for(asyncio.open_connection(*second.public_address), 2))
    assert postfix.queue() == []

"""The load harness itself: the sink's faults, the plain relay's replies, the supervisor and the reconciliation rules."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.support.flaky_sink import Faults, FlakySink, SinkRecord, message_id_of
from tests.support.load import LoadResult, MessageFactory, TargetProcess, free_port, reconcile, run_load

MESSAGES = MessageFactory(size=1024, run_id="unit")


def send_one(port: int, i: int = 0) -> None:
    data = MESSAGES.header(i) + MESSAGES.body()
    asyncio.run(aiosmtplib.send(data, sender=MESSAGES.mail_from, recipients=list(MESSAGES.rcpt_tos),
                                hostname="127.0.0.1", port=port, start_tls=False, timeout=10))


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[..., FlakySink]]:
    started: list[FlakySink] = []

    def make(faults: Faults | None = None) -> FlakySink:
        sink = FlakySink(tmp_path / f"sink{len(started)}.jsonl", faults or Faults(), seed=1).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


def test_sink_records_a_delivered_message_with_its_envelope(sink_factory) -> None:
    sink = sink_factory()
    send_one(sink.port)
    [rec] = sink.records()
    assert (rec.event, rec.message_id, rec.rcpt_tos) == ("delivered", MESSAGES.message_id(0), MESSAGES.rcpt_tos)


def test_sink_drop_after_record_keeps_the_message_but_the_client_sees_no_250(sink_factory) -> None:
    sink = sink_factory(Faults(drop_after_record=1.0))
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        send_one(sink.port)
    [rec] = sink.records()
    assert rec.event == "recorded_then_dropped" and rec.arrived and rec.message_id == MESSAGES.message_id(0)


@pytest.mark.parametrize(("fault", "error"), [
    ("rcpt_451", aiosmtplib.SMTPRecipientsRefused),
    ("data_451", aiosmtplib.SMTPDataError),
    ("drop_before_data", aiosmtplib.SMTPServerDisconnected),
    ("drop_after_data", aiosmtplib.SMTPServerDisconnected),
])
def test_sink_fault_fails_the_transaction_and_records_nothing_delivered(sink_factory, fault: str,
                                                                        error: type[Exception]) -> None:
    sink = sink_factory(Faults(**{fault: 1.0}))
    with pytest.raises(error):
        send_one(sink.port)
    assert [(r.event, r.arrived) for r in sink.records()] == [(fault, False)]


def test_fault_rates_above_one_are_refused() -> None:
    with pytest.raises(ValueError, match="sum"):
        Faults.uniform(0.3)


def test_message_id_is_read_from_the_top_header_only() -> None:
    inner = b"Content-Type: message/rfc822\r\n\r\nMessage-ID: <inner@x>\r\n\r\nhi\r\n"
    assert message_id_of(b"Message-ID:\r\n <outer@x>\r\nSubject: s\r\n\r\n" + inner) == "<outer@x>"
    assert message_id_of(inner) is None


@pytest.fixture
def relay_to_sink(sink_factory, tmp_path: Path) -> Iterator[tuple[TargetProcess, FlakySink]]:
    sink = sink_factory()
    port = free_port()
    argv = [sys.executable, "-m", "tests.support.plain_relay", "--listen", f"127.0.0.1:{port}", "--next-hop",
            sink.address]
    with TargetProcess(argv, "127.0.0.1", port, log=tmp_path / "relay.log") as relay:
        yield relay, sink


def test_plain_relay_answers_451_when_the_next_hop_is_down(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "tests.support.plain_relay", "--listen", f"127.0.0.1:{port}", "--next-hop",
            f"127.0.0.1:{free_port()}"]
    with TargetProcess(argv, "127.0.0.1", port, log=tmp_path / "relay.log"), \
            pytest.raises(aiosmtplib.SMTPDataError) as info:
        send_one(port)
    assert info.value.code == 451


def test_relay_killed_and_restarted_serves_again_on_the_same_port(relay_to_sink) -> None:
    relay, sink = relay_to_sink
    send_one(relay.port, 0)
    relay.kill_and_restart()
    send_one(relay.port, 1)
    assert len(relay.kills) == 1
    assert [r.message_id for r in sink.records()] == [MESSAGES.message_id(0), MESSAGES.message_id(1)]


def test_driver_retries_until_accepted_and_reconciles_clean(relay_to_sink) -> None:
    relay, sink = relay_to_sink
    result = asyncio.run(run_load(relay.host, relay.port, count=40, connections=4, messages=MESSAGES))
    assert result.accepted == 40 and result.retries == 0
    assert reconcile(result, sink.record).ok


def test_driver_records_5xx_as_a_permanent_failure(tmp_path: Path) -> None:
    async def main() -> LoadResult:
        async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"554 5.7.1 go away\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(refuse, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await run_load("127.0.0.1", port, count=3, connections=1, messages=MESSAGES, deadline=5)

    result = asyncio.run(main())
    assert result.accepted == 0 and len(result.permanent_failures) == 3 and not result.gave_up
    assert "554" in next(iter(result.permanent_failures.values()))


def _rec(mid: str, t: float, event: str = "delivered") -> SinkRecord:
    return SinkRecord(event, mid, MESSAGES.mail_from, MESSAGES.rcpt_tos, 100, t)


def _result(ids: list[str]) -> LoadResult:
    return LoadResult(sent_ids=[*ids, "<never-accepted>"], accepted_ids=ids, permanent_failures={}, gave_up={},
                      retries=0, errors=Counter(), elapsed=1.0, started_at=0.0, latencies=[], first_attempt={},
                      rcpt_tos=MESSAGES.rcpt_tos, connections=1, size=100)


def test_reconcile_finds_lost_duplicated_and_unexpected() -> None:
    result = _result(["<a>", "<b>", "<c>", "<d>", "<e>"])
    records = [
        _rec("<a>", 1.0),
        _rec("<b>", 1.0, "recorded_then_dropped"), _rec("<b>", 2.0),  # explained by the sink's drop
        _rec("<c>", 4.9), _rec("<c>", 6.0),  # explained by the kill at 5.0
        _rec("<d>", 1.0), _rec("<d>", 2.0),  # no fault, no kill: unexplained
        _rec("<stranger>", 1.0),
        SinkRecord("data_451", "<a>", None, (), 100, 0.5),
    ]
    rec = reconcile(result, records, kill_times=[5.0])
    assert rec.lost == ("<e>",)
    assert rec.copies == {"<b>": 2, "<c>": 2, "<d>": 2}
    assert (rec.explained_by_fault, rec.explained_by_kill, rec.unexplained) == (("<b>",), ("<c>",), ("<d>",))
    assert rec.unexpected == ("<stranger>",)
    assert rec.faults == Counter({"recorded_then_dropped": 1, "data_451": 1})
    assert not rec.ok


def test_reconcile_flags_a_copy_with_other_recipients() -> None:
    rec = reconcile(_result(["<a>"]), [SinkRecord("delivered", "<a>", None, ("eve@x",), 1, 1.0)])
    assert rec.wrong_recipients == ("<a>",) and not rec.ok


def test_fast_sink_records_what_it_was_sent_unstuffed(tmp_path: Path) -> None:
    with FlakySink(tmp_path / "fast.jsonl", fast=True) as sink:
        data = MESSAGES.header(7) + b".starts with a dot\r\n" + MESSAGES.body()
        asyncio.run(aiosmtplib.send(data, sender=MESSAGES.mail_from, recipients=list(MESSAGES.rcpt_tos),
                                    hostname="127.0.0.1", port=sink.port, start_tls=False, timeout=10))
        send_one(sink.port, 8)
    assert [(r.event, r.message_id, r.rcpt_tos, r.size) for r in sink.records()] == [
        ("delivered", MESSAGES.message_id(7), MESSAGES.rcpt_tos, len(data)),
        ("delivered", MESSAGES.message_id(8), MESSAGES.rcpt_tos, len(data) - 20),
    ]

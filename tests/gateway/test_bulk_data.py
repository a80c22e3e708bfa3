"""Large messages through the block-wise DATA reader and relay (past pacing.BULK_AFTER: bulk lane, spool writes
in a thread, 128 KiB relay blocks): dot-stuffing, the end of data, line ends, NUL and line lengths where one
read or one relay block ends and the next begins; and the bulk lane's turns."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from mailseal.gateway.pacing import BULK_AFTER, BulkLane
from mailseal.gateway.relay import WIRE_CHUNK, Copy, Journal, Relay
from mailseal.gateway.settings import OutboundTls
from mailseal.gateway.smtpserver import DATA_BLOCK
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import RawClient
from tests.support.smtp_sink import SmtpSink

UNTRUSTED = {"gateway": {"trusted_networks": []}}
ROW = b"y" * 76 + b"\r\n"


def _filler(size: int) -> bytes:
    """Whole lines, about ``size`` octets: enough to put what follows in the bulk path."""
    return ROW * (size // len(ROW) + 1)


def _transaction(client: RawClient, parts: list[bytes]) -> tuple[int, str]:
    """One message sent in ``parts``, with a pause after each so that the gateway reads them one by one: each
    boundary between parts is then the boundary between two reads."""
    assert client.command("MAIL FROM:<x@elsewhere.example>")[0] == 250
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("DATA")[0] == 354
    for part in parts:
        client.send(part)
        time.sleep(0.05)
    return client.reply()


@pytest.fixture
def client(start_gateway: StartGateway) -> RawClient:
    gw = start_gateway(UNTRUSTED)
    raw = RawClient(gw.port)
    assert raw.command("EHLO client.example")[0] == 250
    return raw


def test_dots_at_read_boundaries_are_unstuffed_once(client: RawClient, sink: SmtpSink) -> None:
    head = b"Subject: dots\r\n\r\n" + _filler(BULK_AFTER + DATA_BLOCK)
    parts = [head, b"..dot at the start of a read\r\n", b"..\r\n", b".", b"hidden dot\r\nmiddle\r", b"\n..",
             b".two dots\r\nlast line\r\n", b".", b"\r\n"]
    assert _transaction(client, parts)[0] == 250
    [got] = sink.wait_for(1)
    assert got.data.endswith(_filler(BULK_AFTER + DATA_BLOCK) + b".dot at the start of a read\r\n.\r\n"
                             b"hidden dot\r\nmiddle\r\n..two dots\r\nlast line\r\n")
    client.close()


@pytest.mark.parametrize("ending", [[b"end\r\n.", b"\r\n"], [b"end\r\n", b".\r\n"], [b"end\r", b"\n.\r\n"],
                                    [b"end\r\n.\r", b"\n"]])
def test_end_of_data_split_across_reads(client: RawClient, sink: SmtpSink, ending: list[bytes]) -> None:
    body = _filler(BULK_AFTER + 1000)
    assert _transaction(client, [b"Subject: end\r\n\r\n" + body, *ending])[0] == 250
    assert client.command("NOOP")[0] == 250  # nothing after the end was taken for data
    [got] = sink.wait_for(1)
    assert got.data.endswith(body + b"end\r\n")
    client.close()


@pytest.mark.parametrize(("length", "taken"), [(998, True), (999, True), (1000, False), (1100, False)])
def test_line_length_limit_across_reads_of_a_large_message(client: RawClient, sink: SmtpSink, length: int,
                                                           taken: bool) -> None:
    """The limit counts as aiosmtpd's does (at most 1001 octets with the CRLF), however the line is split."""
    line = b"z" * length + b"\r\n"
    code, text = _transaction(client, [b"Subject: long\r\n\r\n" + _filler(BULK_AFTER), line[:500], line[500:],
                                       b"after\r\n.\r\n"])
    assert (code == 250) is taken, text
    if not taken:
        assert code == 500 and "too long" in text
    assert client.command("NOOP")[0] == 250  # the connection goes on after a refusal
    if taken:
        [got] = sink.wait_for(1)
        assert line in got.data
    else:
        assert sink.messages == []  # refused after the whole data was read: nothing was relayed
    client.close()


@pytest.mark.parametrize(("tail", "code"), [
    ([b"bare\nLF\r\n"], 550),                 # a bare LF after the first megabyte
    ([b"bare CR at a read's end\r", b"x\r\n"], 550),
    ([b"\rbare CR at a read's start\r\n"], 550),
    ([b"a NUL \x00 here\r\n"], 554),
])
def test_bad_octets_in_a_large_message_refuse_it(client: RawClient, sink: SmtpSink, tail: list[bytes],
                                                 code: int) -> None:
    parts = [b"Subject: bad\r\n\r\n" + _filler(BULK_AFTER + DATA_BLOCK), *tail, b"more\r\n.\r\n"]
    assert _transaction(client, parts)[0] == code
    assert _transaction(client, [b"Subject: fine\r\n\r\nfine\r\n.\r\n"])[0] == 250  # the next message goes
    [got] = sink.wait_for(1)
    assert b"Subject: fine" in got.data
    client.close()


def test_relay_stuffs_dots_at_the_start_of_each_block(tmp_path: Path, sink: SmtpSink) -> None:
    """A large copy goes out in WIRE_CHUNK blocks: a line starting with a dot exactly where a block starts is
    stuffed like any other (else the next hop would drop the dot, or end the data at a lone '.')."""
    def block(start: bytes) -> bytes:
        return (start + _filler(WIRE_CHUNK))[:WIRE_CHUNK - 2] + b"\r\n"

    head = b"From: x@elsewhere.example\r\nTo: alice@example.org\r\nSubject: relay\r\n\r\n"
    blocks = [block(head), block(b".\r\n..two\r\n.x\r\n")]
    blocks += [block(b".dot at a block start\r\n") for _ in range(BULK_AFTER // WIRE_CHUNK + 1)]
    content = b"".join(blocks) + b"last\r\n"
    path = tmp_path / "copy"
    path.write_bytes(content)

    async def deliver() -> int:
        relay = Relay(*sink.address, hostname="gw.example", tls=OutboundTls(mode="none"), timeout=30,
                      journal=Journal(tmp_path / "journal"))
        try:
            with path.open("rb") as f:
                return await relay.deliver("x@elsewhere.example",
                                           [Copy(["alice@example.org"], cast(BinaryIO, f), "key")])
        finally:
            await relay.close()

    assert asyncio.run(deliver()) == 1
    [got] = sink.wait_for(1)
    assert got.data == content


def test_bulk_lane_takes_turns_in_order() -> None:
    async def run() -> list[str]:
        lane = BulkLane()
        order: list[str] = []

        async def stream(name: str) -> None:
            for _ in range(3):
                async with lane:
                    order.append(name)

        await asyncio.gather(stream("a"), stream("b"), stream("c"))
        return order

    assert asyncio.run(run()) == ["a", "b", "c"] * 3


def test_bulk_lane_rests_only_while_others_are_served_and_is_released_on_error() -> None:
    async def run() -> tuple[bool, bool, bool]:
        lane = BulkLane()
        before = lane.resting
        lane.interactive()
        during = lane.resting
        with pytest.raises(RuntimeError):
            async with lane:
                raise RuntimeError("a step failed")
        async with lane:  # not left locked by the failed step
            pass
        return before, during, True

    assert asyncio.run(run()) == (False, True, True)

"""An SMTP sink in its own OS process that records every message it accepts and injects seeded faults.

The sink is the far end of a load test: whatever relays into it (the plain relay, later the gateway) can be
SIGKILLed and restarted while the sink keeps running and keeps its record. Each event is one JSON line appended
to the record file, written (and by default fsync'd) *before* the reply goes out, so a message counts as
delivered exactly when the sink was about to answer 250 to it.

Faults are rolled once per transaction (at the first RCPT) with a seeded RNG; the rates are exclusive
probabilities that must sum to at most 1:

``rcpt_451``
    answer ``451`` to the first RCPT; nothing recorded.
``drop_before_data``
    close the connection abruptly when the DATA command arrives, before the payload; nothing recorded.
``data_451``
    take the payload, answer ``451`` at the final dot; nothing recorded.
``drop_after_data``
    take the payload, then close the connection without recording or answering.
``drop_after_record``
    take the payload, record it, then close the connection before the ``250`` goes out. The client never
    learns the message was delivered and must send it again: this is the duplicate that SMTP semantics allow
    (RFC 5321 §6.1: a lost final reply can only be resolved by sending the message twice). Such a record has
    ``"event": "recorded_then_dropped"`` so a report can tell these duplicates from real ones.

Delivered records have ``"event": "delivered"``; every other fault is logged as its own event (with the
Message-ID when the payload was already read) so that a report can count what was injected.

Run as ``python -m tests.support.flaky_sink --listen 127.0.0.1:0 --record FILE [--seed N] [--rcpt-451 0.05 ...]``;
once listening it prints ``READY host:port`` on stdout. In tests use :class:`FlakySink`, which does that for you.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.processes import terminate

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
HOSTNAME = "sink.load.test"  # aiosmtpd calls socket.getfqdn() per connection without one, which can be slow
FAULTS = ("rcpt_451", "drop_before_data", "data_451", "drop_after_data", "drop_after_record")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Faults:
    """Per-transaction fault probabilities (exclusive; their sum is at most 1)."""

    rcpt_451: float = 0.0
    drop_before_data: float = 0.0
    data_451: float = 0.0
    drop_after_data: float = 0.0
    drop_after_record: float = 0.0

    def __post_init__(self) -> None:
        rates = [getattr(self, name) for name in FAULTS]
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1: {self}")

    @classmethod
    def uniform(cls, rate: float) -> Faults:
        """Every fault at the same rate."""
        return cls(**dict.fromkeys(FAULTS, rate))

    def argv(self) -> list[str]:
        return [a for name in FAULTS for a in (f"--{name.replace('_', '-')}", repr(getattr(self, name)))]

    def roll(self, rng: random.Random) -> str | None:
        """The fault for one transaction, or None."""
        x, edge = rng.random(), 0.0
        for name in FAULTS:
            edge += getattr(self, name)
            if x < edge:
                return name
        return None


@dataclass(frozen=True)
class SinkRecord:
    """One line of the record file."""

    event: str  # "delivered", "recorded_then_dropped", or a fault name
    message_id: str | None
    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    size: int
    t: float  # time.time() when written

    @property
    def arrived(self) -> bool:
        """The sink holds this copy of the message (whether or not the client heard the 250)."""
        return self.event in ("delivered", "recorded_then_dropped")


def message_id_of(content: bytes) -> str | None:
    """The Message-ID of the top-level header (unfolded, without whitespace), or None."""
    end = content.find(b"\r\n\r\n")
    head = content if end < 0 else content[: end + 2]
    m = _MESSAGE_ID.search(head)
    return None if m is None else re.sub(rb"\s+", b"", m.group(1)).decode("ascii", "replace")


def read_records(path: Path) -> list[SinkRecord]:
    """Every complete line of a record file (a torn last line, if any, is skipped)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_bytes().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        out.append(SinkRecord(d["event"], d.get("message_id"), d.get("mail_from"), tuple(d.get("rcpt_tos", ())),
                              int(d.get("size", 0)), float(d["t"])))
    return out


@dataclass
class _Recorder:
    path: Path
    fsync: bool
    fd: int = field(init=False)

    def __post_init__(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: str, envelope: Envelope | None, content: bytes | None = None) -> None:
        line = json.dumps({
            "event": event,
            "message_id": None if content is None else message_id_of(content),
            "mail_from": None if envelope is None else envelope.mail_from,
            "rcpt_tos": [] if envelope is None else list(envelope.rcpt_tos),
            "size": 0 if content is None else len(content),
            "t": time.time(),
        }).encode() + b"\n"
        # One write() per line on an O_APPEND descriptor: lines never interleave, and a killed sink leaves at
        # most a torn last line, which read_records skips.
        os.write(self.fd, line)
        if self.fsync:
            os.fsync(self.fd)


class _FaultySMTP(SMTP):
    """aiosmtpd's server with one extra hook point: a drop when DATA arrives, before the payload."""

    async def smtp_DATA(self, arg: str) -> None:
        handler: _SinkHandler = self.event_handler
        if self.session is not None and handler.pending_fault(self.session) == "drop_before_data":
            handler.recorder.write("drop_before_data", self.envelope)
            await _drop(self)
        await super().smtp_DATA(arg)


async def _drop(server: SMTP) -> None:
    """Close the connection abruptly (no reply) and park until aiosmtpd cancels this session's task."""
    if server.transport is not None:
        server.transport.abort()
    await asyncio.sleep(3600)


class _SinkHandler:
    def __init__(self, recorder: _Recorder, faults: Faults, seed: int) -> None:
        self.recorder = recorder
        self.faults = faults
        self.rng = random.Random(seed)

    @staticmethod
    def pending_fault(session: Session) -> str | None:
        return getattr(session, "load_fault", None)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        session.load_fault = self.faults.roll(self.rng)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not envelope.rcpt_tos and self.pending_fault(session) == "rcpt_451":
            self.recorder.write("rcpt_451", envelope)
            return "451 4.3.0 injected fault: try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.pending_fault(session)
        session.load_fault = None  # type: ignore[attr-defined]
        content = envelope.original_content or b""
        if fault == "data_451":
            self.recorder.write("data_451", envelope, content)
            return "451 4.3.0 injected fault: try again later"
        if fault == "drop_after_data":
            self.recorder.write("drop_after_data", envelope, content)
            await _drop(server)
        if fault == "drop_after_record":
            self.recorder.write("recorded_then_dropped", envelope, content)
            await _drop(server)
        self.recorder.write("delivered", envelope, content)
        return "250 2.0.0 OK: recorded"


class _FastSink(asyncio.Protocol):
    """A minimal fault-free SMTP server for benchmarks: aiosmtpd reads DATA one line at a time, which makes the
    sink about as slow as the relay it is meant to measure; this one finds the end of DATA in whole chunks."""

    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder
        self.buf = bytearray()
        self.scanned = 0  # in DATA: how far the buffer has been searched for the end (less the 4 octets that
        # could begin it), so a long message is searched once, not once per read
        self.in_data = False
        self.envelope = Envelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(f"220 {HOSTNAME} ESMTP fast sink\r\n".encode())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.in_data:
                # The terminating dot may directly follow the 354 (an empty message).
                i = -2 if self.buf.startswith(b".\r\n") else self.buf.find(b"\r\n.\r\n", self.scanned)
                if i < 0:
                    self.scanned = max(0, len(self.buf) - 4)
                    return
                content = (b"\r\n" + bytes(self.buf[:i + 2])).replace(b"\r\n..", b"\r\n.")[2:]
                del self.buf[:i + 5]
                self.in_data, self.scanned = False, 0
                self.recorder.write("delivered", self.envelope, content)
                self.envelope = Envelope()
                self.transport.write(b"250 2.0.0 OK: recorded\r\n")
                continue
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            line = bytes(self.buf[:i])
            del self.buf[:i + 2]
            self.transport.write(self.command(line))

    def command(self, line: bytes) -> bytes:
        verb, arg = line[:4].upper(), line[5:].decode("ascii", "replace")
        if verb == b"EHLO":
            return f"250-{HOSTNAME}\r\n250-8BITMIME\r\n250 SIZE 33554432\r\n".encode()
        if verb == b"MAIL":
            self.envelope = Envelope()
            self.envelope.mail_from = arg.split(":", 1)[-1].split(">")[0].strip(" <")
        elif verb == b"RCPT":
            self.envelope.rcpt_tos.append(arg.split(":", 1)[-1].split(">")[0].strip(" <"))
        elif verb == b"DATA":
            self.in_data = True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        elif verb == b"RSET":
            self.envelope = Envelope()
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
            return b""
        elif verb not in (b"HELO", b"NOOP"):
            return b"502 command not implemented\r\n"
        return b"250 OK\r\n"


async def serve(host: str, port: int, record: Path, faults: Faults, seed: int, fsync: bool, fast: bool = False) -> None:
    loop = asyncio.get_running_loop()
    recorder = _Recorder(record, fsync)
    if fast:
        if faults != Faults():
            raise ValueError("the fast sink injects no faults")
        server = await loop.create_server(lambda: _FastSink(recorder), host, port, reuse_address=True, backlog=512)
    else:
        handler = _SinkHandler(recorder, faults, seed)
        server = await loop.create_server(lambda: _FaultySMTP(handler, hostname=HOSTNAME, timeout=60),
                                          host, port, reuse_address=True, backlog=512)
    bound = server.sockets[0].getsockname()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {bound[0]}:{bound[1]}", flush=True)
    async with server:
        await stop.wait()


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0 = any free port)")
    parser.add_argument("--record", type=Path, required=True, help="JSON-lines file the events are appended to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fsync", dest="fsync", action="store_false",
                        help="skip the fsync per line (a killed sink still keeps every line; only a crash of the machine loses any)")
    parser.add_argument("--fast", action="store_true",
                        help="a minimal SMTP server instead of aiosmtpd, for benchmarks (no faults)")
    for name in FAULTS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=0.0, metavar="RATE")
    args = parser.parse_args(argv)
    faults = Faults(**{name: getattr(args, name) for name in FAULTS})
    asyncio.run(serve(*split_address(args.listen), args.record, faults, args.seed, args.fsync, args.fast))
    return 0


class FlakySink:
    """The sink as a child process: ``with FlakySink(path, Faults.uniform(0.05), seed=1) as sink: sink.port``."""

    def __init__(self, record: Path, faults: Faults = Faults(), *, seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0, fsync: bool = True, fast: bool = False, log: Path | None = None) -> None:
        self.record, self.faults, self.seed, self.fsync, self.fast = Path(record), faults, seed, fsync, fast
        self.host, self.port = host, port
        self.log = log or self.record.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "tests.support.flaky_sink", "--listen", f"{self.host}:{self.port}",
               "--record", str(self.record), "--seed", str(self.seed), *self.faults.argv()]
        return cmd + (["--no-fsync"] if not self.fsync else []) + (["--fast"] if self.fast else [])

    def start(self) -> FlakySink:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE,
                                         stderr=log)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"flaky sink did not start: {self.log.read_text(errors='replace')[-2000:]}")
            if select.select([self.proc.stdout], [], [], min(left, 0.2))[0]:
                chunk = os.read(self.proc.stdout.fileno(), 256)
                line += chunk
                if not chunk:
                    continue
        self.host, self.port = split_address(line.decode().split()[1])
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def records(self) -> list[SinkRecord]:
        return read_records(self.record)

    def __enter__(self) -> FlakySink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        return {"address": self.address, "seed": self.seed, "fsync": self.fsync, "fast": self.fast,
                **asdict(self.faults)}


def child_env() -> dict[str, str]:
    """The repository root and src/ first on PYTHONPATH, so ``-m tests.support...`` and ``mailseal`` import."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


if __name__ == "__main__":
    sys.exit(main())

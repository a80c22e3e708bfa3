"""Load driver, delivery reconciliation and a kill-and-restart supervisor for no-loss tests of an SMTP relay.

Three parts, used together by ``tests/load`` and ``bench/gateway_bench.py``:

* :func:`run_load` sends N messages, each with a unique Message-ID, over K concurrent SMTP connections and
  retries each one on 4xx replies, connection errors and timeouts (with a small jittered backoff) until it
  is accepted with 250 or the deadline passes, the way an MTA's queue would; 5xx is a permanent failure.
* :func:`reconcile` compares the Message-IDs the driver saw accepted with what the sink
  (:mod:`tests.support.flaky_sink`) recorded: lost, duplicated (and whether each duplicate is explained by an
  injected drop-after-record fault or by a kill of the target), unexpected.
* :class:`TargetProcess` runs the relay under test from a command line, waits for its SMTP banner, and can
  SIGKILL it mid-run and start it again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import aiosmtplib

from tests.support.flaky_sink import REPO_ROOT, SinkRecord, child_env, read_records

CLIENT_HOSTNAME = "driver.load.test"  # aiosmtplib would call socket.getfqdn() per connection without one
ID_DOMAIN = "load.mailseal.test"
_WORDS = ("mail", "relay", "queue", "message", "envelope", "sender", "recipient", "signature", "certificate", "cipher",
          "digest", "header", "body", "retry", "deliver", "accept", "refuse", "timeout", "gateway", "payload")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the target binds it itself, with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


# -- messages ---------------------------------------------------------------------------------------------------


def text_body(size: int, seed: int = 0) -> bytes:
    """About ``size`` bytes of plain 7-bit text in CRLF lines of at most 76 characters."""
    rng, lines, total = random.Random(seed), [], 0
    while total < size:
        line = ""
        while len(line) < 60:
            line += rng.choice(_WORDS) + " "
        lines.append(line.rstrip().encode() + b"\r\n")
        total += len(lines[-1])
    return b"".join(lines)


@dataclass(frozen=True)
class MessageFactory:
    """Messages from ``mail_from`` to ``rcpt_tos`` of about ``size`` bytes, with Message-ID ``<run.i@domain>``."""

    size: int = 2048
    mail_from: str = "alice@load.example"
    rcpt_tos: tuple[str, ...] = ("bob@load.example",)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def message_id(self, i: int) -> str:
        return f"<{self.run_id}.{i:06d}@{ID_DOMAIN}>"

    def header(self, i: int) -> bytes:
        return (f"From: <{self.mail_from}>\r\nTo: {', '.join(f'<{r}>' for r in self.rcpt_tos)}\r\n"
                f"Subject: load test message {i}\r\nDate: {formatdate(localtime=False)}\r\n"
                f"Message-ID: {self.message_id(i)}\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n").encode()

    def body(self) -> bytes:
        return text_body(max(0, self.size - len(self.header(0))))


# -- the driver -------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Live counters, updated while :func:`run_load` runs (for kill triggers and progress output)."""

    accepted: int = 0
    attempts: int = 0
    done: bool = False  # set when run_load returns


@dataclass
class LoadResult:
    """What the driver saw. Times are seconds; ``*_at`` and ``first_attempt`` are wall clock (time.time())."""

    sent_ids: list[str]
    accepted_ids: list[str]
    permanent_failures: dict[str, str]  # Message-ID -> the 5xx reply
    gave_up: dict[str, str]  # Message-ID -> last error when the deadline passed
    retries: int  # attempts beyond the first, over all messages
    errors: Counter[str]  # kind of failed attempt -> count
    elapsed: float
    started_at: float
    latencies: list[float]  # duration of the accepted SMTP transaction, per accepted message
    first_attempt: dict[str, float]
    rcpt_tos: tuple[str, ...]
    connections: int
    size: int

    @property
    def sent(self) -> int:
        return len(self.sent_ids)

    @property
    def accepted(self) -> int:
        return len(self.accepted_ids)

    @property
    def msgs_per_second(self) -> float:
        return self.accepted / self.elapsed if self.elapsed > 0 else 0.0

    def latency(self, q: float) -> float:
        """The q-quantile (0..1) of accepted-transaction latency, in seconds (nearest rank)."""
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))] if xs else float("nan")

    def summary(self) -> str:
        errs = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "none"
        return (f"sent {self.sent}, accepted {self.accepted}, permanent failures {len(self.permanent_failures)}, "
                f"gave up {len(self.gave_up)}, retries {self.retries} ({errs}); {self.elapsed:.2f} s, "
                f"{self.msgs_per_second:.1f} msgs/s, p50 {self.latency(0.5) * 1e3:.1f} ms, "
                f"p95 {self.latency(0.95) * 1e3:.1f} ms over {self.connections} connections")


def _kind(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return f"rcpt {min((r.code for r in exc.recipients), default=0)}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"reply {exc.code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionRefusedError):
        return "connect failed"
    return "disconnected" if isinstance(exc, ConnectionError | aiosmtplib.SMTPServerDisconnected) else type(exc).__name__


def _code(exc: BaseException) -> int | None:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return min((r.code for r in exc.recipients), default=None)
    return exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None


async def run_load(host: str, port: int, *, count: int = 2000, connections: int = 20,
                   messages: MessageFactory | None = None, deadline: float = 120.0, timeout: float = 30.0,
                   backoff: float = 0.02, backoff_max: float = 0.5, progress: Progress | None = None,
                   seed: int = 0) -> LoadResult:
    """Send ``count`` messages over ``connections`` concurrent connections; retry each until 250 or ``deadline``.

    A connection is kept across messages and replaced after any error other than a plain 4xx/5xx reply.
    ``timeout`` bounds each SMTP command; ``deadline`` (seconds from the start) bounds the whole run.
    """
    factory = messages or MessageFactory()
    body, progress = factory.body(), progress or Progress()
    rng = random.Random(seed)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    accepted: list[str] = []
    permanent: dict[str, str] = {}
    gave_up: dict[str, str] = {}
    first_attempt: dict[str, float] = {}
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    retries = 0
    start = time.monotonic()
    started_at = time.time()
    end = start + deadline

    async def worker() -> None:
        nonlocal retries
        smtp: aiosmtplib.SMTP | None = None
        try:
            while not queue.empty():
                i = queue.get_nowait()
                mid, data = factory.message_id(i), factory.header(i) + body
                last = "deadline passed before the first attempt"
                for attempt in itertools.count():
                    if time.monotonic() >= end:
                        gave_up[mid] = last
                        break
                    if attempt:
                        retries += 1
                    first_attempt.setdefault(mid, time.time())
                    progress.attempts += 1
                    t0 = time.perf_counter()
                    try:
                        if smtp is None or not smtp.is_connected:
                            smtp = aiosmtplib.SMTP(hostname=host, port=port, local_hostname=CLIENT_HOSTNAME,
                                                   start_tls=False, timeout=timeout)
                            await smtp.connect()
                        refused, _ = await smtp.sendmail(factory.mail_from, list(factory.rcpt_tos), data)
                        if refused:
                            raise aiosmtplib.SMTPRecipientsRefused(
                                [aiosmtplib.SMTPRecipientRefused(r.code, r.message, a) for a, r in refused.items()])
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        code, last = _code(exc), f"{_kind(exc)}: {exc}"
                        errors[_kind(exc)] += 1
                        if code is not None and 500 <= code < 600:
                            permanent[mid] = last
                            break
                        if code is None or code == 421:
                            # The connection is in an unknown state (or the server is closing it): start afresh.
                            if smtp is not None:
                                smtp.close()
                            smtp = None
                        pause = min(backoff_max, backoff * 2 ** min(attempt, 10)) * rng.uniform(0.5, 1.5)
                        await asyncio.sleep(min(pause, max(0.0, end - time.monotonic())))
                        continue
                    latencies.append(time.perf_counter() - t0)
                    accepted.append(mid)
                    progress.accepted += 1
                    break
        finally:
            if smtp is not None and smtp.is_connected:
                try:
                    await asyncio.wait_for(smtp.quit(), 2)
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    smtp.close()

    try:
        await asyncio.gather(*(worker() for _ in range(connections)))
    finally:
        progress.done = True
    return LoadResult(
        sent_ids=[factory.message_id(i) for i in range(count)], accepted_ids=accepted, permanent_failures=permanent,
        gave_up=gave_up, retries=retries, errors=errors, elapsed=time.monotonic() - start, started_at=started_at,
        latencies=latencies, first_attempt=first_attempt, rcpt_tos=factory.rcpt_tos, connections=connections,
        size=len(factory.header(0)) + len(body),
    )


# -- reconciliation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """The driver's view against the sink's record. ``ok`` is the no-loss verdict."""

    lost: tuple[str, ...]  # accepted by the target, never at the sink
    copies: dict[str, int]  # Message-ID -> copies at the sink, for every ID with more than one
    explained_by_fault: tuple[str, ...]  # every extra copy follows an injected drop after the sink recorded
    explained_by_kill: tuple[str, ...]  # the remaining extra copies straddle a SIGKILL of the target
    unexplained: tuple[str, ...]
    unexpected: tuple[str, ...]  # at the sink but never sent by the driver (or without a Message-ID)
    unconfirmed: tuple[str, ...]  # at the sink although the driver gave up on it or saw a 5xx
    wrong_recipients: tuple[str, ...]  # a copy at the sink whose envelope recipients differ from those sent
    faults: Counter[str]  # injected fault events at the sink, by kind
    delivered_at: dict[str, float]  # Message-ID -> wall time of its first copy at the sink

    @property
    def duplicated(self) -> int:
        return len(self.copies)

    @property
    def extra_copies(self) -> int:
        return sum(n - 1 for n in self.copies.values())

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unexplained or self.unexpected or self.wrong_recipients)

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (f"lost {len(self.lost)}, duplicated {self.duplicated} ({self.extra_copies} extra copies: "
                f"{len(self.explained_by_fault)} explained by drop-after-record, {len(self.explained_by_kill)} by "
                f"a kill of the target, {len(self.unexplained)} unexplained), unexpected {len(self.unexpected)}, "
                f"unconfirmed {len(self.unconfirmed)}, wrong recipients {len(self.wrong_recipients)}; "
                f"injected faults: {faults}")


def reconcile(result: LoadResult, records: Sequence[SinkRecord] | Path, kill_times: Sequence[float] = (),
              kill_grace: float = 0.5) -> Reconciliation:
    """Compare what the driver saw accepted with what reached the sink.

    A message with k > 1 copies at the sink has k - 1 extra copies. Each copy the sink recorded and then
    dropped the connection on (``recorded_then_dropped``) explains one: its sender never saw the 250 and had
    to send again, which SMTP allows. Extra copies left over are put down to a kill of the target when at
    least that many kills (``kill_times``, wall clock) fall between the message's first and last copy: a
    target killed after the next hop took the message but before it answered 250 (or marked it sent in its
    queue) must send it again. The first copy may be up to ``kill_grace`` seconds *after* the kill: the
    target can die with the final dot already in the sink's socket buffer, and the sink records it while the
    target is down. Anything else is unexplained.
    """
    recs = read_records(records) if isinstance(records, Path) else list(records)
    sent, accepted = set(result.sent_ids), set(result.accepted_ids)
    arrived: dict[str, list[SinkRecord]] = {}
    unexpected: list[str] = []
    for r in recs:
        if not r.arrived:
            continue
        if r.message_id is None or r.message_id not in sent:
            unexpected.append(r.message_id or "<no Message-ID>")
            continue
        arrived.setdefault(r.message_id, []).append(r)
    copies = {mid: len(rs) for mid, rs in arrived.items() if len(rs) > 1}
    by_fault, by_kill, unexplained = [], [], []
    for mid, n in copies.items():
        rs = sorted(arrived[mid], key=lambda r: r.t)
        residual = n - 1 - sum(r.event == "recorded_then_dropped" for r in rs)
        if residual <= 0:
            by_fault.append(mid)
        elif residual <= sum(rs[0].t - kill_grace <= k <= rs[-1].t for k in kill_times):
            by_kill.append(mid)
        else:
            unexplained.append(mid)
    wanted = sorted(result.rcpt_tos)
    return Reconciliation(
        lost=tuple(sorted(accepted - arrived.keys())),
        copies=copies,
        explained_by_fault=tuple(sorted(by_fault)),
        explained_by_kill=tuple(sorted(by_kill)),
        unexplained=tuple(sorted(unexplained)),
        unexpected=tuple(sorted(unexpected)),
        unconfirmed=tuple(sorted(arrived.keys() & (result.gave_up.keys() | result.permanent_failures.keys()))),
        wrong_recipients=tuple(sorted(mid for mid, rs in arrived.items() if any(sorted(r.rcpt_tos) != wanted
                                                                                 for r in rs))),
        faults=Counter(r.event for r in recs if r.event != "delivered"),
        delivered_at={mid: min(r.t for r in rs) for mid, rs in arrived.items()},
    )


def wait_for_sink(record: Path, message_ids: Sequence[str], timeout: float = 30.0, settle: float = 0.0) -> bool:
    """Wait until every ID in ``message_ids`` has a copy at the sink; then ``settle`` more seconds for stragglers.

    A relay that answers 250 only after the next hop did needs no wait; a gateway with a queue delivers after
    its 250, so a test must wait for the queue to drain before it reconciles.
    """
    wanted, end = set(message_ids), time.monotonic() + timeout
    while True:
        have = {r.message_id for r in read_records(record) if r.arrived}
        if wanted <= have:
            time.sleep(settle)
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.1)


# -- the supervisor ---------------------------------------------------------------------------------------------


class TargetProcess:
    """The relay under test as a child process on a fixed port, which can be SIGKILLed and restarted.

    ``command`` is the full argument list; it must make the target listen on ``host:port``. The target runs in
    its own process group, so a kill takes any worker processes it started along with it.
    """

    def __init__(self, command: Sequence[str], host: str, port: int, *, log: Path, env: dict[str, str] | None = None,
                 cwd: Path = REPO_ROOT, ready_timeout: float = 30.0) -> None:
        self.command, self.host, self.port, self.log = list(command), host, port, log
        self.env = {**child_env(), **(env or {})}
        self.cwd, self.ready_timeout = cwd, ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills: list[float] = []  # wall-clock time of each SIGKILL
        self.downtimes: list[float] = []  # seconds from each SIGKILL until the banner came back
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> TargetProcess:
        with self.log.open("ab") as log:
            log.write(f"--- start {time.time():.3f}: {' '.join(self.command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=log,
                                         start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Wait until the target answers with an SMTP 220 banner (a listening socket alone is not enough)."""
        end = time.monotonic() + self.ready_timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"target exited before it was ready:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"target not ready on {self.address} after {self.ready_timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the target's whole process group and reap it."""
        if self.proc is None:
            return
        self.kills.append(time.time())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def kill_and_restart(self, after_seconds: float = 0.0) -> float:
        """Sleep, SIGKILL the target, start it again on the same port; return the downtime in seconds."""
        time.sleep(after_seconds)
        with self._lock:
            t0 = time.monotonic()
            self.kill()
            self.start()
            self.downtimes.append(time.monotonic() - t0)
            return self.downtimes[-1]

    def schedule_kill_and_restart(self, after_seconds: float) -> threading.Thread:
        """:meth:`kill_and_restart` in a background thread (join it before stopping the target)."""
        thread = threading.Thread(target=self.kill_and_restart, args=(after_seconds,), daemon=True)
        thread.start()
        return thread

    async def kill_at_progress(self, progress: Progress, thresholds: Sequence[int], poll: float = 0.01) -> None:
        """Kill and restart the target each time ``progress.accepted`` reaches the next of ``thresholds``.

        Returns early, without the remaining kills, if the run ends first (``len(self.kills)`` tells).
        """
        for n in sorted(thresholds):
            while progress.accepted < n:
                if progress.done:
                    return
                await asyncio.sleep(poll)
            await asyncio.to_thread(self.kill_and_restart, 0.0)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s, for the whole process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> TargetProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

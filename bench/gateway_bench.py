"""Messages per second through an SMTP relay under test against a plain aiosmtpd relay, in the same run.

Both relays forward to the same kind of fast, fault-free sink (``tests/support/flaky_sink.py`` with no faults and
no fsync) and get the same load: ``--count`` messages of ``--size`` bytes over ``--connections`` concurrent
connections (``tests/support/load.py``). The baseline is ``tests/support/plain_relay.py``; the target is
``--target-cmd`` (``--gateway``: ``mailseal serve`` signing and encrypting for the demo organisation; the plain
relay again by default, which shows how far apart two runs of the same thing land). ``--processes 1,2,4`` measures
both at each number of processes sharing the port. Results go to stdout and ``bench/gateway-results.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.flaky_sink import FlakySink, read_records  # noqa: E402
from tests.support.load import (  # noqa: E402
    LoadResult,
    MessageFactory,
    Reconciliation,
    TargetProcess,
    free_port,
    reconcile,
    run_load,
    wait_for_sink,
)

PLAIN_RELAY = "{python} -m tests.support.plain_relay --listen {listen} --next-hop {next_hop} --processes {processes}"
GATEWAY = ("{python} -m mailseal.cli.main serve --listen {listen} --next-hop {next_hop} --log-level warning "
           "--processes {processes}")
UNITS = {"K": 1 << 10, "M": 1 << 20}


def group_rss(pgid: int) -> int:
    """Resident memory (bytes) of every process in the process group ``pgid`` (the target, its front-ends and
    their worker processes: TargetProcess starts it in a session of its own)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            total += next(int(ln.split()[1]) for ln in (entry / "status").read_text().splitlines()
                          if ln.startswith("VmRSS:")) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return total


@dataclass
class Memory:
    idle: int = 0  # bytes, the whole process group, started and warmed up, no connection
    connected: int = 0  # with --connections idle SMTP connections open (after EHLO)
    peak: int = 0  # the highest sample during the measured load

    def cells(self) -> list[str]:
        return [f"{x / (1 << 20):.0f}" for x in (self.idle, self.connected, self.peak)]


def rss_with_connections(host: str, port: int, count: int, pgid: int) -> int:
    """The group's RSS with ``count`` SMTP connections open and greeted (EHLO), then closed."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.create_connection((host, port), timeout=10)
            socks.append(s)
            s.recv(512)
            s.sendall(b"EHLO bench.test\r\n")
            s.recv(4096)
        time.sleep(0.5)
        return group_rss(pgid)
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.sendall(b"QUIT\r\n")
            s.close()


class PeakSampler(threading.Thread):
    """The highest RSS of a process group, sampled every ``period`` seconds until stopped."""

    def __init__(self, pgid: int, period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pgid, self.period, self.peak = pgid, period, 0
        self.done = threading.Event()

    def run(self) -> None:
        while True:  # one sample at once and one at the end, however short the load
            self.peak = max(self.peak, group_rss(self.pgid))
            if self.done.wait(self.period):
                self.peak = max(self.peak, group_rss(self.pgid))
                return


@dataclass
class Measurement:
    name: str
    command: str
    result: LoadResult
    rec: Reconciliation
    delivered_in: float  # seconds from the start of the run until the last message's first copy was at the sink
    processes: int = 1
    memory: Memory = field(default_factory=Memory)

    @property
    def delivered_per_second(self) -> float:
        return len(self.rec.delivered_at) / self.delivered_in if self.delivered_in > 0 else 0.0

    def end_to_end(self, q: float) -> float:
        """q-quantile of seconds from a message's first attempt until its first copy was at the sink."""
        xs = sorted(t - self.result.first_attempt[mid] for mid, t in self.rec.delivered_at.items()
                    if mid in self.result.first_attempt)
        return xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))] if xs else float("nan")


def parse_size(label: str) -> int:
    return int(label[:-1]) * UNITS[label[-1].upper()] if label[-1].upper() in UNITS else int(label)


def expand(template: str, listen: str, next_hop: str, processes: int = 1) -> list[str]:
    """A command template's words with ``{python} {listen} {next_hop} {host} {port} {next_hop_host} {next_hop_port}
    {processes}``."""
    (host, port), (nh_host, nh_port) = (a.rsplit(":", 1) for a in (listen, next_hop))
    values = {"python": sys.executable, "listen": listen, "next_hop": next_hop, "host": host, "port": port,
              "next_hop_host": nh_host, "next_hop_port": nh_port, "processes": processes}
    return [word.format(**values) for word in shlex.split(template)]


def measure(name: str, template: str, args: argparse.Namespace, work: Path, env: dict[str, str],
            round_: int, processes: int = 1) -> Measurement:
    tag = name.replace(" ", "-").replace("(", "").replace(")", "").replace("+", "") + f".p{processes}.{round_}"
    sink = FlakySink(work / f"{tag}.sink.jsonl", fsync=False, fast=True).start()
    memory = Memory()
    try:
        port = free_port()
        argv = expand(template, f"127.0.0.1:{port}", sink.address, processes)
        with TargetProcess(argv, "127.0.0.1", port, log=work / f"{tag}.log", env=env,
                           ready_timeout=args.ready_timeout) as target:
            assert target.proc is not None
            pgid = target.proc.pid
            if processes > 1:  # the 220 came from one of them: wait until the supervisor says all listen
                wait_for_line(work / f"{tag}.log", f": {processes} front-end processes", args.ready_timeout)
            messages = MessageFactory(size=args.size, mail_from=args.mail_from, rcpt_tos=tuple(args.rcpt))
            warm: set[str] = set()
            if args.warmup:
                w = asyncio.run(run_load(target.host, target.port, count=args.warmup, connections=args.connections,
                                         messages=MessageFactory(size=args.size, mail_from=args.mail_from,
                                                                 rcpt_tos=tuple(args.rcpt)), deadline=args.deadline))
                warm = set(w.sent_ids)
            time.sleep(1.0)
            memory.idle = group_rss(pgid)
            memory.connected = rss_with_connections(target.host, target.port, args.connections, pgid)
            sampler = PeakSampler(pgid)
            sampler.start()
            try:
                result = asyncio.run(run_load(target.host, target.port, count=args.count,
                                              connections=args.connections, messages=messages,
                                              deadline=args.deadline))
            finally:
                sampler.done.set()
                sampler.join()
            memory.peak = sampler.peak
            drained = wait_for_sink(sink.record, result.accepted_ids, args.drain_timeout)
            # A queueing relay may still be delivering warm-up messages: those are not this run's.
            rec = reconcile(result, [r for r in read_records(sink.record) if r.message_id not in warm])
            if not drained:
                print(f"{name}: {len(rec.lost)} accepted messages never reached the sink", file=sys.stderr)
    finally:
        sink.stop()
    last = max(rec.delivered_at.values(), default=result.started_at)
    m = Measurement(name, " ".join(argv), result, rec, last - result.started_at, processes, memory)
    print(f"{name} x{processes} (round {round_ + 1}): {result.summary()}; {m.delivered_per_second:.1f} msgs/s "
          f"delivered; {rec.summary()}; RSS MiB idle/connected/peak {'/'.join(memory.cells())}",
          file=sys.stderr, flush=True)
    return m


def wait_for_line(log: Path, text: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"no line with {text!r} in {log} after {timeout} s")


def demo_gateway(work: Path, settings: list[str]) -> dict[str, str]:
    """The `make run` demo organisation in ``work`` (keys, certificates, policy: alice@example.org signs,
    carol@partner.example has a certificate), with ``settings`` (``key = value`` lines) added to its [gateway]
    table; the environment for `mailseal serve` on it."""
    home = work / "gateway-home"
    env = {**os.environ, "MAILSEAL_HOME": str(home), "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    env.pop("MAILSEAL_CONFIG", None)
    subprocess.run([sys.executable, "-m", "mailseal.demo", "--setup-only", "--metrics-port", str(free_port()),
                    "--web-port", str(free_port()), "--portal-port", str(free_port())], env=env, check=True,
                   capture_output=True, timeout=300)
    config = home / "mailseal.toml"
    config.write_text(config.read_text().replace("[gateway]\n", "[gateway]\n" + "".join(f"{s}\n" for s in settings),
                                                 1))
    return {"MAILSEAL_HOME": str(home), "MAILSEAL_STORE_KEYFILE": str(home / "demo" / "store.key")}


def median(ms: list[Measurement]) -> Measurement:
    """The round with the median delivered msgs/s (the lower middle one for an even count)."""
    return sorted(ms, key=lambda m: m.delivered_per_second)[(len(ms) - 1) // 2]


def row(m: Measurement, base: Measurement) -> list[str]:
    r, rec = m.result, m.rec
    ratio = m.delivered_per_second / base.delivered_per_second if base.delivered_per_second else float("nan")
    return [m.name, str(m.processes), str(r.sent), str(r.accepted), str(len(rec.lost)), str(rec.extra_copies), f"{r.elapsed:.2f}",
            f"{r.msgs_per_second:.0f}", f"{m.delivered_per_second:.0f}", f"{r.latency(0.5) * 1e3:.1f}",
            f"{r.latency(0.95) * 1e3:.1f}", f"{m.end_to_end(0.5) * 1e3:.1f}", f"{m.end_to_end(0.95) * 1e3:.1f}",
            f"{ratio:.2f}", *m.memory.cells()]


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join([
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; memory {mem / 1024 / 1024:.1f} GiB; {platform.platform()}",
        f"- load average before the run: {load}",
        f"- Python {platform.python_version()}; aiosmtpd {version('aiosmtpd')}; aiosmtplib {version('aiosmtplib')}",
    ])


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="messages per relay (default 2000)")
    parser.add_argument("--connections", type=int, default=20, help="concurrent SMTP connections (default 20)")
    parser.add_argument("--size", type=parse_size, default=parse_size("20K"), help="message size (default 20K)")
    parser.add_argument("--warmup", type=int, default=100, help="messages sent first and not counted (default 100)")
    parser.add_argument("--processes", default="1",
                        help="comma-separated process counts, e.g. 1,2,4: relay and target are measured at each "
                             "(the templates' {processes}; default 1)")
    parser.add_argument("--gateway", action="store_true",
                        help="the target is `mailseal serve --processes N` on the demo organisation (set up in a "
                             "temporary directory), alice@example.org to carol@partner.example: sign+encrypt")
    parser.add_argument("--gateway-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="with --gateway: a line added to its [gateway] table, e.g. worker_processes=2")
    parser.add_argument("--target-cmd", default=PLAIN_RELAY,
                        help="command template of the relay under test, with {python} {listen} {next_hop} {host} "
                             "{port} {next_hop_host} {next_hop_port} {processes} (default: the plain relay again)")
    parser.add_argument("--target-name", help="its name in the table (default: gateway, or plain relay (again))")
    parser.add_argument("--target-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment for the target process (repeatable)")
    parser.add_argument("--mail-from", help="envelope sender and From: (default alice@load.example; with "
                                            "--gateway alice@example.org)")
    parser.add_argument("--rcpt", action="append", help="envelope recipient and To: (repeatable; default "
                                                        "bob@load.example; with --gateway carol@partner.example)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure each relay this many times, alternating, and report the median (default 3)")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the driver per relay")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="seconds to wait for a queueing relay to deliver what it accepted")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds for a relay to answer 220")
    parser.add_argument("--results", type=Path, default=HERE / "gateway-results.md", help="where to write Markdown")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.processes.split(",")]
    if args.gateway:
        args.target_cmd = GATEWAY
    args.mail_from = args.mail_from or ("alice@example.org" if args.gateway else "alice@load.example")
    args.rcpt = args.rcpt or (["carol@partner.example"] if args.gateway else ["bob@load.example"])
    name = args.target_name or ("mailseal gateway (sign+encrypt)" if args.gateway else
                                "plain relay (again)" if args.target_cmd == PLAIN_RELAY else "gateway")
    env = dict(kv.split("=", 1) for kv in args.target_env)
    described = machine()
    pairs: list[tuple[Measurement, Measurement, list[Measurement], list[Measurement]]] = []
    with tempfile.TemporaryDirectory(prefix="mailseal-gwbench-") as tmp:
        if args.gateway:
            env = {**demo_gateway(Path(tmp), [kv.replace("=", " = ", 1) for kv in args.gateway_setting]), **env}
        for processes in counts:
            bases, targets = [], []
            for n in range(args.rounds):
                # Alternate the order so that neither relay always runs first on a warming (or busier) machine.
                for which in ((0, 1) if n % 2 == 0 else (1, 0)):
                    if which == 0:
                        bases.append(measure("plain relay", PLAIN_RELAY, args, Path(tmp), {}, n, processes))
                    else:
                        targets.append(measure(name, args.target_cmd, args, Path(tmp), env, n, processes))
            pairs.append((median(bases), median(targets), bases, targets))
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    summary = table(["processes", "plain relay msgs/s", f"{name} msgs/s", "ratio", "all rounds: relay",
                     "all rounds: target"],
                    [[str(b.processes), f"{b.delivered_per_second:.0f}", f"{t.delivered_per_second:.0f}",
                      f"{t.delivered_per_second / b.delivered_per_second:.2f}" if b.delivered_per_second else "nan",
                      ", ".join(f"{m.delivered_per_second:.0f}" for m in bs),
                      ", ".join(f"{m.delivered_per_second:.0f}" for m in ts)] for b, t, bs, ts in pairs])
    header = ["relay", "processes", "sent", "accepted", "lost", "extra copies", "elapsed s", "accepted msgs/s",
              "delivered msgs/s", "p50 ms", "p95 ms", "end-to-end p50 ms", "end-to-end p95 ms",
              "ratio (delivered msgs/s vs plain relay)", "RSS idle MiB", f"RSS {args.connections} connections MiB",
              "RSS peak under load MiB"]
    report = table(header, [r for b, t, _, _ in pairs for r in (row(b, b), row(t, b))])
    rounds = "" if args.rounds == 1 else (
        f" Median of {args.rounds} alternating rounds by delivered msgs/s at each process count.")
    first = pairs[0][0]
    notes = (
        f"{args.count} messages of {first.result.size} bytes (text/plain, 7bit), {args.connections} concurrent "
        f"connections, after {args.warmup} warm-up messages per relay, each relay in its own process group and freshly "
        "started (with N processes: N processes sharing the listening port with SO_REUSEPORT under one supervisor, "
        "the same code for both), forwarding to its own fault-free sink process (no fsync; a minimal asyncio SMTP "
        "server rather than aiosmtpd, which reads DATA line by line and would be as slow as the relay it measures). "
        "The driver (asyncio + aiosmtplib), the relay and the sink share this machine. Accepted msgs/s = messages "
        "answered 250 / driver wall time; delivered msgs/s = messages at the sink / time from the start until the "
        "last one arrived (the same for a relay that answers 250 only after the next hop did; lower for one that "
        "queues). p50/p95 = duration of the accepted SMTP transaction (MAIL to the 250 after DATA) at the driver; "
        "end-to-end = first attempt to first copy at the sink. Ratio = target delivered msgs/s / plain relay "
        f"delivered msgs/s, same run.{rounds} RSS = resident memory of the relay's whole process group (supervisor, "
        f"front-ends, worker processes): idle after the warm-up, with {args.connections} greeted connections open, "
        f"and the highest sample (every 0.25 s) during the measured load. Load average after the run: {load_after}."
        f"\n\n- plain relay: `{first.command}`\n- {name}: `{pairs[0][1].command}`"
    )
    text = f"{summary}\n\n{report}\n\n{notes}\n"
    print(text)
    args.results.write_text(f"# SMTP relay throughput: {name} vs plain aiosmtpd relay\n\n{described}\n\n{text}")
    return 0 if not any(m.rec.lost for _, _, bs, ts in pairs for m in (*bs, *ts)) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Messages per second through an SMTP relay under test against a plain aiosmtpd relay, in the same run.

Both relays forward to the same kind of fast, fault-free sink (``tests/support/flaky_sink.py`` with no faults and
no fsync) and get the same load: ``--count`` messages of ``--size`` bytes over ``--connections`` concurrent
connections (``tests/support/load.py``). The baseline is ``tests/support/plain_relay.py``; the target is
``--target-cmd`` (the gateway, once ``mailseal serve`` exists; the plain relay again by default, which shows
how far apart two runs of the same thing land). Results go to stdout and ``bench/gateway-results.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import sys
import tempfile
from dataclasses import dataclass
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

PLAIN_RELAY = "{python} -m tests.support.plain_relay --listen {listen} --next-hop {next_hop}"
UNITS = {"K": 1 << 10, "M": 1 << 20}


@dataclass
class Measurement:
    name: str
    command: str
    result: LoadResult
    rec: Reconciliation
    delivered_in: float  # seconds from the start of the run until the last message's first copy was at the sink

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


def expand(template: str, listen: str, next_hop: str) -> list[str]:
    """A command template's words with ``{python} {listen} {next_hop} {host} {port} {next_hop_host} {next_hop_port}``."""
    (host, port), (nh_host, nh_port) = (a.rsplit(":", 1) for a in (listen, next_hop))
    values = {"python": sys.executable, "listen": listen, "next_hop": next_hop, "host": host, "port": port,
              "next_hop_host": nh_host, "next_hop_port": nh_port}
    return [word.format(**values) for word in shlex.split(template)]


def measure(name: str, template: str, args: argparse.Namespace, work: Path, env: dict[str, str],
            round_: int) -> Measurement:
    tag = name.replace(" ", "-").replace("(", "").replace(")", "") + f".{round_}"
    sink = FlakySink(work / f"{tag}.sink.jsonl", fsync=False, fast=True).start()
    try:
        port = free_port()
        argv = expand(template, f"127.0.0.1:{port}", sink.address)
        with TargetProcess(argv, "127.0.0.1", port, log=work / f"{tag}.log", env=env,
                           ready_timeout=args.ready_timeout) as target:
            messages = MessageFactory(size=args.size, mail_from=args.mail_from, rcpt_tos=tuple(args.rcpt))
            warm: set[str] = set()
            if args.warmup:
                w = asyncio.run(run_load(target.host, target.port, count=args.warmup, connections=args.connections,
                                         messages=MessageFactory(size=args.size, mail_from=args.mail_from,
                                                                 rcpt_tos=tuple(args.rcpt)), deadline=args.deadline))
                warm = set(w.sent_ids)
            result = asyncio.run(run_load(target.host, target.port, count=args.count, connections=args.connections,
                                          messages=messages, deadline=args.deadline))
            drained = wait_for_sink(sink.record, result.accepted_ids, args.drain_timeout)
            # A queueing relay may still be delivering warm-up messages: those are not this run's.
            rec = reconcile(result, [r for r in read_records(sink.record) if r.message_id not in warm])
            if not drained:
                print(f"{name}: {len(rec.lost)} accepted messages never reached the sink", file=sys.stderr)
    finally:
        sink.stop()
    last = max(rec.delivered_at.values(), default=result.started_at)
    m = Measurement(name, " ".join(argv), result, rec, last - result.started_at)
    print(f"{name} (round {round_ + 1}): {result.summary()}; {m.delivered_per_second:.1f} msgs/s delivered; {rec.summary()}",
          file=sys.stderr, flush=True)
    return m


def median(ms: list[Measurement]) -> Measurement:
    """The round with the median delivered msgs/s (the lower middle one for an even count)."""
    return sorted(ms, key=lambda m: m.delivered_per_second)[(len(ms) - 1) // 2]


def row(m: Measurement, base: Measurement) -> list[str]:
    r, rec = m.result, m.rec
    ratio = m.delivered_per_second / base.delivered_per_second if base.delivered_per_second else float("nan")
    return [m.name, str(r.sent), str(r.accepted), str(len(rec.lost)), str(rec.extra_copies), f"{r.elapsed:.2f}",
            f"{r.msgs_per_second:.0f}", f"{m.delivered_per_second:.0f}", f"{r.latency(0.5) * 1e3:.1f}",
            f"{r.latency(0.95) * 1e3:.1f}", f"{m.end_to_end(0.5) * 1e3:.1f}", f"{m.end_to_end(0.95) * 1e3:.1f}",
            f"{ratio:.2f}"]


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
    parser.add_argument("--target-cmd", default=PLAIN_RELAY,
                        help="command template of the relay under test, with {python} {listen} {next_hop} {host} "
                             "{port} {next_hop_host} {next_hop_port} (default: the plain relay again)")
    parser.add_argument("--target-name", help="its name in the table (default: gateway, or plain relay (again))")
    parser.add_argument("--target-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment for the target process (repeatable)")
    parser.add_argument("--mail-from", default="alice@load.example", help="envelope sender and From:")
    parser.add_argument("--rcpt", action="append", help="envelope recipient and To: (repeatable; default "
                                                        "bob@load.example)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure each relay this many times, alternating, and report the median (default 3)")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the driver per relay")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="seconds to wait for a queueing relay to deliver what it accepted")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds for a relay to answer 220")
    parser.add_argument("--results", type=Path, default=HERE / "gateway-results.md", help="where to write Markdown")
    args = parser.parse_args(argv)
    args.rcpt = args.rcpt or ["bob@load.example"]
    name = args.target_name or ("plain relay (again)" if args.target_cmd == PLAIN_RELAY else "gateway")
    env = dict(kv.split("=", 1) for kv in args.target_env)
    described = machine()
    with tempfile.TemporaryDirectory(prefix="mailseal-gwbench-") as tmp:
        bases, targets = [], []
        for n in range(args.rounds):
            # Alternate the order so that neither relay always runs first on a warming (or busier) machine.
            for which in ((0, 1) if n % 2 == 0 else (1, 0)):
                if which == 0:
                    bases.append(measure("plain relay", PLAIN_RELAY, args, Path(tmp), {}, n))
                else:
                    targets.append(measure(name, args.target_cmd, args, Path(tmp), env, n))
    base, target = median(bases), median(targets)
    header = ["relay", "sent", "accepted", "lost", "extra copies", "elapsed s", "accepted msgs/s",
              "delivered msgs/s", "p50 ms", "p95 ms", "end-to-end p50 ms", "end-to-end p95 ms",
              "ratio (delivered msgs/s vs plain relay)"]
    report = table(header, [row(base, base), row(target, base)])
    rounds = "" if args.rounds == 1 else (
        f" Median of {args.rounds} alternating rounds by delivered msgs/s; all rounds, delivered msgs/s: plain relay "
        f"{', '.join(f'{m.delivered_per_second:.0f}' for m in bases)}; {name} "
        f"{', '.join(f'{m.delivered_per_second:.0f}' for m in targets)}.")
    notes = (
        f"{args.count} messages of {base.result.size} bytes (text/plain, 7bit), {args.connections} concurrent "
        f"connections, after {args.warmup} warm-up messages per relay, each relay in its own process and freshly "
        "started, forwarding to its own fault-free sink process (no fsync; a minimal asyncio SMTP server rather than aiosmtpd, which reads DATA line by line and would be as slow as the relay it measures). The driver (asyncio + aiosmtplib), the "
        "relay and the sink share this machine. Accepted msgs/s = messages answered 250 / driver wall time; "
        "delivered msgs/s = messages at the sink / time from the start until the last one arrived (the same for a "
        "relay that answers 250 only after the next hop did; lower for one that queues). p50/p95 = duration of "
        "the accepted SMTP transaction (MAIL to the 250 after DATA) at the driver; end-to-end = first attempt to "
        "first copy at the sink. Ratio = target delivered msgs/s / plain relay delivered msgs/s, same run."
        f"{rounds}\n\n"
        f"- plain relay: `{base.command}`\n- {name}: `{target.command}`"
    )
    text = f"{report}\n\n{notes}\n"
    print(text)
    args.results.write_text(f"# SMTP relay throughput: {name} vs plain aiosmtpd relay\n\n{described}\n\n{text}")
    return 0 if not any(m.rec.lost for m in (*bases, *targets)) else 1


if __name__ == "__main__":
    sys.exit(main())

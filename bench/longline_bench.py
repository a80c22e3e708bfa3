"""Does one client's upload of long lines slow everyone else down? A legitimate message's latency through
`mailseal serve`, alone and while ``--uploads`` clients send messages of 998-octet lines, in the same run.

The gateway relays (no signing or encryption: the DATA path is what is measured) to a fast fault-free sink
(``tests/support/flaky_sink.py``); gateway and sink each run in their own process. A probe is one 20 KiB message
of 76-octet lines on a fresh connection, timed from connect to the 250 after DATA; the probes run one after
another. Each round sends ``--probes`` probes alone, then as many again, and more for at least ``--busy-seconds``,
while the uploads run; the ratio of a
round is the median probe latency with uploads / alone (the target of issue 11: <= 3x), and the rounds alternate
so that a slow spell of a shared machine falls on both sides. Results go to stdout and
``bench/longline-results.md``.

The uploading clients run in a process of their own, as other clients run on other machines: sharing one event
loop with the probes (``--same-loop``, as the first version of this benchmark did) times the probes' wait behind
the uploaders' own work in the client (aiosmtplib dot-stuffs and writes a whole 8 MB message in one call), not
the gateway. In their own process the uploaders are lean clients that write a pre-built message block by block.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import aiosmtplib

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.gateway_bench import machine, parse_size, table  # noqa: E402

from tests.support.flaky_sink import FlakySink  # noqa: E402
from tests.support.load import TargetProcess, free_port  # noqa: E402

SETTINGS = """[gateway]
accepted_domains = ["example.org"]
max_message_size = "{limit}"
[policy]
sign = "never"
encrypt = "never"
decrypt_inbound = false
verify_inbound = false
"""
WRITE_BLOCK = 256 << 10  # the uploaders write their (pre-built) message in blocks of this size


def _message(subject: str, size: int, line: int) -> bytes:
    head = (f"From: carol@partner.example\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@bench.example>\r\n\r\n").encode()
    row = b"x" * line + b"\r\n"
    return head + row * max(1, size // len(row))


async def _send(port: int, data: bytes) -> float:
    started = time.perf_counter()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=300)
    await client.connect()
    try:
        await client.sendmail("carol@partner.example", ["alice@example.org"], data)
    finally:
        await client.quit()
    return time.perf_counter() - started


async def _probes(port: int, count: int, tag: str, seconds: float = 0.0) -> list[float]:
    """``count`` probes one after another, and more until ``seconds`` have passed."""
    started = time.perf_counter()
    latencies: list[float] = []
    while len(latencies) < count or time.perf_counter() - started < seconds:
        latencies.append(await _send(port, _message(f"{tag}-{len(latencies)}", 20 << 10, 76)))
    return latencies


async def _reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("the gateway closed the connection")
        if line[3:4] != b"-":
            return line


async def _upload(port: int, data: bytes, sent: Synchronized[int] | None = None) -> None:
    """One message by a lean client: the data is built (no line starts with a dot) and written block by block,
    so that the client spends next to nothing per octet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _reply(reader)
        for command, code in ((b"EHLO uploader", b"250"), (b"MAIL FROM:<carol@partner.example>", b"250"),
                              (b"RCPT TO:<alice@example.org>", b"250"), (b"DATA", b"354")):
            writer.write(command + b"\r\n")
            if not (answer := await _reply(reader)).startswith(code):
                raise RuntimeError(f"{command.decode()}: {answer.decode().strip()}")
        view = memoryview(data)
        for start in range(0, len(data), WRITE_BLOCK):
            writer.write(view[start:start + WRITE_BLOCK])
            await writer.drain()
            if sent is not None:
                with sent.get_lock():
                    sent.value += len(view[start:start + WRITE_BLOCK])
        writer.write(b".\r\n")
        if not (answer := await _reply(reader)).startswith(b"250"):
            raise RuntimeError(f"upload refused: {answer.decode().strip()}")
        writer.write(b"QUIT\r\n")
        await _reply(reader)
    finally:
        writer.close()


async def _uploads(port: int, clients: int, size: int, line: int, stop: Event, sent: Synchronized[int],
                   running: Event | None = None, lean: bool = True) -> None:
    async def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            data = _message(f"up{n}-{i}", size, line)
            if running is not None:
                running.set()
            if lean:
                await _upload(port, data, sent)  # counts as it writes
            else:
                await _send(port, data)
                with sent.get_lock():
                    sent.value += len(data)
            i += 1

    await asyncio.gather(*(client(n) for n in range(clients)))


def _uploader_process(port: int, clients: int, size: int, line: int, stop: Event, sent: Synchronized[int],
                      running: Event) -> None:
    asyncio.run(_uploads(port, clients, size, line, stop, sent, running))


async def _busy_same_loop(port: int, args: argparse.Namespace, tag: str) -> tuple[list[float], float]:
    ctx = multiprocessing.get_context("spawn")
    stop, sent = ctx.Event(), ctx.Value("q", 0)
    started = time.perf_counter()
    uploads = asyncio.create_task(_uploads(port, args.uploads, args.upload_size, args.line, stop, sent,
                                            lean=False))
    await asyncio.sleep(0.2)  # the uploads are under way
    busy = await _probes(port, args.probes, tag, args.busy_seconds)
    stop.set()
    await uploads
    return busy, sent.value / (time.perf_counter() - started)


def _busy(port: int, args: argparse.Namespace, tag: str) -> tuple[list[float], float]:
    """Probe latencies while the uploads run in their own process, and the upload rate (octets/s)."""
    if args.same_loop:
        return asyncio.run(_busy_same_loop(port, args, tag))
    ctx = multiprocessing.get_context("spawn")
    stop, running, sent = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
    proc = ctx.Process(target=_uploader_process,
                       args=(port, args.uploads, args.upload_size, args.line, stop, sent, running))
    proc.start()
    try:
        if not running.wait(60):
            raise RuntimeError("the uploads did not start")
        time.sleep(0.3)  # the uploads are under way
        started = time.perf_counter()
        first = sent.value
        busy = asyncio.run(_probes(port, args.probes, tag, args.busy_seconds))
        rate = (sent.value - first) / (time.perf_counter() - started)
        stop.set()
        proc.join(300)
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"the upload process failed (exit status {proc.exitcode})")
    return busy, rate


def _rounds(port: int, args: argparse.Namespace) -> list[dict[str, float]]:
    asyncio.run(_probes(port, 3, "warm"))
    results = []
    for r in range(args.rounds):
        alone = asyncio.run(_probes(port, args.probes, f"alone{r}"))
        busy, rate = _busy(port, args, f"busy{r}")
        results.append({"alone": statistics.median(alone), "busy": statistics.median(busy),
                        "busy_p90": statistics.quantiles(busy, n=10)[-1] if len(busy) > 1 else busy[0],
                        "upload_mb_s": rate / 1e6})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=4, help="concurrent long-line uploads (default 4)")
    parser.add_argument("--upload-size", type=parse_size, default=parse_size("8M"), help="each upload (8M)")
    parser.add_argument("--line", type=int, default=998, help="octets per line of the uploads (default 998)")
    parser.add_argument("--probes", type=int, default=20, help="probe messages alone, and again (default 20)")
    parser.add_argument("--busy-seconds", type=float, default=4.0,
                        help="probe with the uploads running for at least this long (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of alone then busy probes (default 3)")
    parser.add_argument("--same-loop", action="store_true",
                        help="run the uploads in the probes' event loop (the first version of this benchmark)")
    parser.add_argument("--results", type=Path, default=HERE / "longline-results.md", help="where to write Markdown")
    args = parser.parse_args(argv)
    described = machine()
    with tempfile.TemporaryDirectory(prefix="mailseal-longline-") as tmp:
        work = Path(tmp)
        conf = work / "mailseal.toml"
        conf.write_text(SETTINGS.format(limit=max(args.upload_size * 2, 1 << 20)))
        sink = FlakySink(work / "sink.jsonl", fsync=False, fast=True).start()
        try:
            port = free_port()
            argv_ = [sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(conf),
                     "--listen", f"127.0.0.1:{port}", "--next-hop", sink.address]
            env = {"MAILSEAL_HOME": str(work / "home")}
            with TargetProcess(argv_, "127.0.0.1", port, log=work / "gateway.log", env=env, cwd=work):
                results = _rounds(port, args)
        finally:
            sink.stop()
    rows = [[f"{i + 1}", f"{r['alone'] * 1e3:.1f}", f"{r['busy'] * 1e3:.1f}", f"{r['busy_p90'] * 1e3:.1f}",
             f"{r['busy'] / r['alone']:.2f}", f"{r['upload_mb_s']:.1f}"] for i, r in enumerate(results)]
    ratios = [r["busy"] / r["alone"] for r in results]
    report = table(["round", "probe latency alone ms", f"with {args.uploads} uploads ms", "p90 with uploads ms",
                    "ratio (busy / alone)", "upload rate MB/s"], rows)
    summary = (f"Ratio: median {statistics.median(ratios):.2f} over {len(ratios)} rounds "
               f"(range {min(ratios):.2f}-{max(ratios):.2f}).")
    where = "in the probes' event loop" if args.same_loop else "in a process of their own"
    notes = (f"Probes: {args.probes} messages of 20 KiB (76-octet lines) alone per round, and as many for at "
             f"least {args.busy_seconds:g} s with the uploads, one at a time, each on a new connection, median; uploads: {args.uploads} clients {where} sending {args.upload_size} "
             f"byte messages of {args.line}-octet lines in a loop through the same gateway (no signing or "
             "encryption), relayed to a fast sink.")
    text = f"{report}\n\n{summary}\n\n{notes}\n"
    print(text)
    args.results.write_text(f"# Long-line uploads against everyone else's latency\n\n{described}\n\n{text}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

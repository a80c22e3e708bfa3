"""Does one client's upload of long lines slow everyone else down? A legitimate message's latency through
`mailseal serve`, alone and while ``--uploads`` clients send messages of 998-octet lines, in the same run.

The gateway relays (no signing or encryption: the DATA path is what is measured) to a fast fault-free sink
(``tests/support/flaky_sink.py``). A probe is one 20 KiB message of 76-octet lines on a fresh connection, timed
from connect to the 250 after DATA; the probes run one after another, ``--probes`` of them alone and as many again
during the uploads. The ratio is the median probe latency with uploads / alone (the target of issue 11: <= 3x).
Results go to stdout and ``bench/longline-results.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
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


async def _probes(port: int, count: int, tag: str) -> list[float]:
    return [await _send(port, _message(f"{tag}-{i}", 20 << 10, 76)) for i in range(count)]


async def _run(port: int, args: argparse.Namespace) -> dict[str, float]:
    await _probes(port, 3, "warm")
    alone = await _probes(port, args.probes, "alone")
    stop = asyncio.Event()
    uploaded = [0]

    async def upload(n: int) -> None:
        i = 0
        while not stop.is_set():
            await _send(port, _message(f"up{n}-{i}", args.upload_size, args.line))
            uploaded[0] += args.upload_size
            i += 1

    started = time.perf_counter()
    uploads = [asyncio.create_task(upload(n)) for n in range(args.uploads)]
    await asyncio.sleep(0.2)  # the uploads are under way
    busy = await _probes(port, args.probes, "busy")
    stop.set()
    await asyncio.gather(*uploads)
    elapsed = time.perf_counter() - started
    return {"alone": statistics.median(alone), "busy": statistics.median(busy),
            "upload_mb_s": uploaded[0] / elapsed / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=4, help="concurrent long-line uploads (default 4)")
    parser.add_argument("--upload-size", type=parse_size, default=parse_size("8M"), help="each upload (8M)")
    parser.add_argument("--line", type=int, default=998, help="octets per line of the uploads (default 998)")
    parser.add_argument("--probes", type=int, default=20, help="probe messages alone, and again (default 20)")
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
                result = asyncio.run(_run(port, args))
        finally:
            sink.stop()
    ratio = result["busy"] / result["alone"]
    report = table(["probe latency alone ms", f"with {args.uploads} uploads ms", "ratio (busy / alone)",
                    "upload rate MB/s"],
                   [[f"{result['alone'] * 1e3:.1f}", f"{result['busy'] * 1e3:.1f}", f"{ratio:.2f}",
                     f"{result['upload_mb_s']:.1f}"]])
    notes = (f"Probes: {args.probes} messages of 20 KiB (76-octet lines), one at a time, each on a new connection, "
             f"median; uploads: {args.uploads} clients sending {args.upload_size} byte messages of {args.line}-octet "
             "lines in a loop through the same gateway (no signing or encryption), relayed to a fast sink.")
    text = f"{report}\n\n{notes}\n"
    print(text)
    args.results.write_text(f"# Long-line uploads against everyone else's latency\n\n{described}\n\n{text}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

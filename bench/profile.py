"""Where the time goes: pyinstrument profiles of the commands the targets are judged on (`make profile`).

For a large message, one CLI command is profiled in this process (imports included, interpreter start-up not);
for a 1 KiB message, a loop of in-process calls. The reports go to bench/profiles/ as text.

    python bench/profile.py sign 100M      python bench/profile.py decrypt 1K
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (the benchmark's message and PKI generators)


def profile(fn: Callable[[], object], interval: float) -> str:
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("pyinstrument is not installed: .venv/bin/pip install pyinstrument") from None
    profiler = Profiler(interval=interval)
    profiler.start()
    fn()
    profiler.stop()
    return str(profiler.output_text(unicode=False, color=False, show_all=False))


def cli_call(argv: list[str]) -> Callable[[], object]:
    def call() -> None:
        from mailseal._allocator import keep_freed_memory

        keep_freed_memory()  # as mailseal.cli.main.main() does
        sys.argv = ["mailseal", *argv]
        from mailseal.cli.main import cli

        cli.main(standalone_mode=False)

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("operation", choices=run.OPS)
    parser.add_argument("size", help="e.g. 1K (in-process loop) or 100M (one CLI command)")
    parser.add_argument("--out", type=Path, default=HERE / "profiles")
    args = parser.parse_args(argv)
    size = run.parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="mailseal-profile-") as tmp:
        d = Path(tmp)
        pki = run.make_pki(d)
        msg = d / "message.eml"
        run.write_message(msg, size)
        op = args.operation
        if size <= 64 << 10:
            import mailseal

            data = msg.read_bytes()
            trust = mailseal.TrustStore((pki.ca,))
            signed, sealed = mailseal.sign(data, pki.alice), mailseal.encrypt(data, [pki.bob.certificate])
            fn: Callable[[], object] = {
                "sign": lambda: mailseal.sign(data, pki.alice),
                "verify": lambda: mailseal.verify(signed, trust=trust),
                "encrypt": lambda: mailseal.encrypt(data, [pki.bob.certificate]),
                "decrypt": lambda: mailseal.decrypt(sealed, pki.bob),
            }[op]
            fn()

            def loop() -> None:
                for _ in range(2000):
                    fn()

            report = profile(loop, 0.0001)
        else:
            for prior in {"verify": ["sign"], "decrypt": ["encrypt"]}.get(op, []):
                run_cmd = run.commands("mailseal", prior, d, msg)
                run.run_once(run_cmd)
            cmd = run.commands("mailseal", op, d, msg)
            report = profile(cli_call(cmd[cmd.index(op):]), 0.0005)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{args.operation}-{args.size}.txt"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    target.write_text(f"# mailseal {args.operation} {args.size}, pyinstrument, {stamp}\n{report}")
    print(report)
    print(f"written to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

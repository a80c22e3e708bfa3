"""Run one fuzz target under atheris (coverage-guided, libFuzzer): ``python -m tests.fuzz.run TARGET [ARGS]``.

``--instrument PACKAGES`` (comma-separated, default ``mailseal,asn1crypto``) names the packages whose code gives
coverage feedback; CI's short runs instrument ``mailseal`` alone, which starts several times faster.
ARGS are libFuzzer's (``-max_total_time=60``, ``-runs=N``, ``-timeout=10``, ``-rss_limit_mb=2048``, corpus
folders, a crash file to replay). ``--seeds DIR`` first writes the inputs made with this run's keys
(``targets.seeds``) into DIR, which should then be the first corpus folder (libFuzzer adds new inputs there).

Only a typed ``MailsealError`` may escape a target: anything else is reported by atheris as a crash, with the
input saved under ``-artifact_prefix``. A target that runs past ``-timeout`` seconds or past ``-rss_limit_mb`` on
one input is a crash as well (libFuzzer's own checks).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m tests.fuzz.run TARGET [--seeds DIR] [--instrument PKGS] [libFuzzer args]")
    name, rest = argv[1], argv[2:]
    seeds_dir: Path | None = None
    packages = ["mailseal", "asn1crypto"]
    while rest[:1] in (["--seeds"], ["--instrument"]):
        if rest[0] == "--seeds":
            seeds_dir = Path(rest[1])
        else:
            packages = rest[1].split(",")
        rest = rest[2:]
    sys.setrecursionlimit(1000)  # the default, stated: a parser that recurses without bound fails the same way

    from tests.fuzz import targets  # imports nothing of mailseal itself

    with atheris.instrument_imports(include=packages):
        for module in targets.MODULES[name]:
            importlib.import_module(module)
    from mailseal.errors import MailsealError

    target = targets.TARGETS[name]
    if seeds_dir is not None:
        seeds_dir.mkdir(parents=True, exist_ok=True)
        for index, seed in enumerate(targets.seeds(name)):
            (seeds_dir / f"made-{index:02d}").write_bytes(seed)
    targets.fixture()  # keys made before the clock starts

    def one_input(data: bytes) -> None:
        with contextlib.suppress(MailsealError):  # the typed refusal every target may answer with
            target(data)

    atheris.Setup([argv[0], *rest], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

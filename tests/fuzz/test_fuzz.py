"""CI's share of the fuzzing (issue 17): every target runs a few seconds under atheris from the committed corpus.

A run fails on any exception other than a typed ``MailsealError`` (atheris reports it as a crash), on one input
taking more than ``-timeout`` seconds, or on the process growing past ``-rss_limit_mb``: libFuzzer's own checks,
so a hang or a memory blow-up found here is a failure, not a slow test. The module is bounded: ``SECONDS`` of
fuzzing per target plus start-up, two targets at a time (about a minute for the nine on CI's two cores), and
only mailseal's own code is instrumented (instrumenting asn1crypto too, as ``make fuzz`` does, costs ~10 s of
start-up per target). Longer runs: ``make fuzz FUZZ_SECONDS=N``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
SECONDS = 4
PER_INPUT_SECONDS = 20
RSS_LIMIT_MB = 2048
PARALLEL = 2
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+)")


@dataclass(frozen=True)
class Run:
    returncode: int
    stderr: str
    crashes: tuple[str, ...]


def _run(name: str, tmp: Path) -> Run:
    work = tmp / name / "corpus"
    artifacts = tmp / name / "artifacts"
    artifacts.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "MAILSEAL_FUZZ_WORK": str(tmp / name)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, "--instrument", "mailseal", "--seeds", str(work), str(work),
         str(CORPUS / name), f"-max_total_time={SECONDS}", f"-timeout={PER_INPUT_SECONDS}",
         f"-rss_limit_mb={RSS_LIMIT_MB}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=SECONDS + 240,
    )
    return Run(proc.returncode, proc.stderr, tuple(sorted(p.name for p in artifacts.iterdir())))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    # Part of the test extra (pyproject.toml): a missing fuzzer is a failure, as a missing peer is.
    assert importlib.util.find_spec("atheris") is not None, "atheris is not installed: pip install -e '.[test]'"
    tmp = tmp_path_factory.mktemp("fuzz")
    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(sorted(TARGETS), pool.map(lambda n: _run(n, tmp), sorted(TARGETS)), strict=True))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_runs_clean(name: str, runs: dict[str, Run]) -> None:
    assert (CORPUS / name).is_dir() and any((CORPUS / name).iterdir()), f"no seed corpus for {name}"
    run = runs[name]
    log = "\n".join(line for line in run.stderr.splitlines() if not line.startswith("INFO: Instrumenting"))
    at = log.find("=== Uncaught")
    assert run.returncode == 0 and not run.crashes, \
        f"{name}: {run.crashes}\n{log[at:at + 4000] if at >= 0 else log[-4000:]}"
    done = _DONE.search(run.stderr)
    assert done is not None, log[-3000:]
    executions, cov = int(done.group(1)), int(done.group(2))
    assert executions > 0 and cov > 0
    print(f"fuzz {name}: {executions} executions, cov {cov}, ft {done.group(3)}")

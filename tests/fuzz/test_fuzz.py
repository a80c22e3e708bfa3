"""CI's share of the fuzzing (issue 17): every target runs a few seconds under atheris from the committed corpus.

A run fails on any exception other than a typed ``MailsealError`` (atheris reports it as a crash), on one input
taking more than ``-timeout`` seconds, or on the process growing past ``-rss_limit_mb``: libFuzzer's own checks,
so a hang or a memory blow-up found here is a failure, not a slow test. The whole module is bounded: at most
``SECONDS`` of fuzzing per target plus start-up (about 1 minute for the nine targets on CI's machine).
Longer runs: ``make fuzz FUZZ_SECONDS=N``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
SECONDS = 4
PER_INPUT_SECONDS = 20
RSS_LIMIT_MB = 2048
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+)")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_runs_clean(name: str, tmp_path: Path) -> None:
    # Part of the test extra (pyproject.toml): a missing fuzzer is a failure, as a missing peer is.
    assert importlib.util.find_spec("atheris") is not None, "atheris is not installed: pip install -e '.[test]'"
    assert (CORPUS / name).is_dir() and any((CORPUS / name).iterdir()), f"no seed corpus for {name}"
    work = tmp_path / "corpus"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, "--seeds", str(work), str(work), str(CORPUS / name),
         f"-max_total_time={SECONDS}", f"-timeout={PER_INPUT_SECONDS}", f"-rss_limit_mb={RSS_LIMIT_MB}",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=SECONDS + 150,
    )
    log = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("INFO: Instrumenting"))
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    at = log.find("=== Uncaught")
    assert proc.returncode == 0 and not crashes, f"{name}: {crashes}\n{log[at:at + 4000] if at >= 0 else log[-4000:]}"
    done = _DONE.search(proc.stderr)
    assert done is not None, log[-3000:]
    runs, cov = int(done.group(1)), int(done.group(2))
    assert runs > 0 and cov > 0
    print(f"fuzz {name}: {runs} executions, cov {cov}, ft {done.group(3)}")

"""`bench/gateway_bench.py` stays runnable: a tiny run with the plain relay in both slots (no timings asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway_bench.py"


def test_gateway_bench_small_run_writes_a_table(tmp_path: Path) -> None:
    out = tmp_path / "gateway-results.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--count", "60", "--warmup", "5", "--rounds", "1", "--size", "4K",
         "--results", str(out)],
        capture_output=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = out.read_text()
    assert "| plain relay | 1 | 60 | 60 | 0 |" in text
    assert "| plain relay (again) | 1 | 60 | 60 | 0 |" in text
    assert "ratio" in text


def test_gateway_bench_at_two_process_counts(tmp_path: Path) -> None:
    """``--processes 1,2``: both relays measured at each count (two relay processes sharing one port), one summary
    row per count and the memory columns filled."""
    out = tmp_path / "gateway-results.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--count", "40", "--warmup", "5", "--rounds", "1", "--size", "2K",
         "--processes", "1,2", "--results", str(out)],
        capture_output=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = out.read_text()
    assert "| plain relay | 2 | 40 | 40 | 0 |" in text and "| plain relay (again) | 2 | 40 | 40 | 0 |" in text
    assert "| plain relay | 1 | 40 | 40 | 0 |" in text
    summary = [line for line in text.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(summary) == 2
    rss = [line.split("|")[-4:-1] for line in text.splitlines() if line.startswith("| plain relay |")]
    assert all(float(cell) > 5 for cells in rss for cell in cells)  # MiB: the processes were found and measured

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
    assert "| plain relay | 60 | 60 | 0 |" in text
    assert "| plain relay (again) | 60 | 60 | 0 |" in text
    assert "ratio" in text

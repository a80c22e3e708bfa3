"""`bench/longline_bench.py` stays runnable: a tiny run through `mailseal serve` (no timings asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "longline_bench.py"


def test_longline_bench_small_run_writes_a_table(tmp_path: Path) -> None:
    out = tmp_path / "longline-results.md"
    proc = subprocess.run([sys.executable, str(BENCH), "--uploads", "2", "--upload-size", "256K", "--probes", "2",
                           "--results", str(out)], capture_output=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = out.read_text()
    assert "ratio (busy / alone)" in text
    row = text.split("| --- | --- | --- | --- |\n", 1)[1].splitlines()[0]
    assert all(float(cell) > 0 for cell in row.strip("| ").split(" | "))

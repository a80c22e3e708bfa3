"""`bench/longline_bench.py` stays runnable: a tiny run through `mailseal serve` (no timings asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "longline_bench.py"


def test_longline_bench_small_run_writes_a_table(tmp_path: Path) -> None:
    out = tmp_path / "longline-results.md"
    proc = subprocess.run([sys.executable, str(BENCH), "--uploads", "2", "--upload-size", "2M", "--probes", "2",
                           "--rounds", "2", "--busy-seconds", "0.5", "--results", str(out)],
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = out.read_text()
    assert "ratio (busy / alone)" in text and "Ratio: median" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 2  # one per round
    for row in rows:
        cells = [float(cell) for cell in row.strip("| ").split(" | ")]
        assert len(cells) == 6 and all(cell > 0 for cell in cells[:5])  # round, alone, busy, p90, ratio

"""`make bench` stays runnable: a smoke run on the smallest sizes, checking the table it writes (no timings asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.peers import require_peer

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_bench_quick_run_writes_a_table(tmp_path: Path) -> None:
    require_peer("openssl")
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--results", str(out)],
        capture_output=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = out.read_text()
    for operation in ("sign", "verify", "encrypt", "decrypt"):
        assert f"| {operation} | 1K |" in text
    assert "ratio" in text and "openssl" in text.lower()
    assert "start-up subtracted" in text  # the second table (filled for messages of 16 MiB and more)
    assert "CLI ratio (mailseal/openssl msg/s)" in text
    # The store table: each store-backed command beside the file-based one, with a ratio (no "failed" cell).
    for store_cmd, file_cmd in (("keys list", "certs inspect FILE"), ("certs find ADDR", "certs inspect FILE"),
                                ("keys import FILE", "certs inspect FILE"), ("sign --from ADDR", "sign --key FILE"),
                                ("encrypt --to ADDR", "encrypt --to FILE")):
        row = next(line for line in text.splitlines() if line.startswith(f"| {store_cmd} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == file_cmd and float(cells[1]) > 0 and float(cells[3]) > 0 and float(cells[4]) > 0, row


def test_pq_bench_writes_a_row_per_key_family(tmp_path: Path) -> None:
    """bench/pq_bench.py: messages/s and sizes for the classical and post-quantum key families (no timings asserted)."""
    out = tmp_path / "pq.md"
    proc = subprocess.run([sys.executable, str(BENCH.parent / "pq_bench.py"), "--quick", "--results", str(out)],
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line}
    for label in ("RSA-2048", "ML-DSA-65 / ML-KEM-768", "ML-DSA-87 / ML-KEM-1024"):
        assert all(float(cell) > 0 for cell in rows[label]), rows[label]
    # FIPS 203/204 sizes show: an ML-KEM-768 recipient carries a 1088-byte ciphertext, an ML-DSA-65 signature is
    # 3309 bytes; both dwarf their RSA-2048 counterparts.
    assert int(rows["ML-DSA-65 / ML-KEM-768"][4]) > 1088 > int(rows["RSA-2048"][4])
    assert int(rows["ML-DSA-65 / ML-KEM-768"][5]) > 3309 > int(rows["RSA-2048"][5])


def test_profile_script_writes_a_report(tmp_path: Path) -> None:
    """`make profile` (bench/profile.py) profiles an operation with pyinstrument and writes the report."""
    proc = subprocess.run(
        [sys.executable, str(BENCH.parent / "profile.py"), "sign", "1K", "--out", str(tmp_path)],
        capture_output=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    report = (tmp_path / "sign-1K.txt").read_text()
    assert "sign_message" in report and "pyinstrument" in report

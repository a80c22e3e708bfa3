"""Stopping the helper processes the tests start (dnsmasq, slapd, the flaky sink)."""

from __future__ import annotations

import subprocess


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL when the process has not exited after ``timeout`` seconds; None or gone: nothing."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)

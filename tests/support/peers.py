"""Interop peer binaries and `openssl cms` runners (gpgsm and NSS helpers live in gpgsm.py / nss.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["PEER_TIMEOUT", "PeerError", "openssl", "openssl_cms", "require_peer", "run_peer"]

PEER_TIMEOUT = 60

_PEER_PACKAGES = {
    "openssl": "openssl",
    "gpgsm": "gpgsm",
    "gpgconf": "gpgconf",
    "cmsutil": "libnss3-tools",
    "certutil": "libnss3-tools",
    "pk12util": "libnss3-tools",
}


def require_peer(name: str) -> str:
    """Path of the peer binary `name`; skip when it is missing (fail when MAILSEAL_REQUIRE_PEERS=1)."""
    path = shutil.which(name)
    if path is not None:
        return path
    package = _PEER_PACKAGES.get(name, name)
    message = f"peer {name} not installed (Debian package {package})"
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"{message}, and MAILSEAL_REQUIRE_PEERS=1")
    pytest.skip(message)


class PeerError(AssertionError):
    """A peer command failed; the message carries the command line, exit code and both outputs."""


def _show(data: bytes, limit: int = 4000) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def run_peer(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = PEER_TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run a peer command; with check=True a non-zero exit raises PeerError showing stdout and stderr."""
    proc = subprocess.run(
        [os.fspath(c) for c in cmd],
        input=b"" if input is None else input,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise PeerError(
            f"peer command failed (exit {proc.returncode}): {shlex.join(os.fspath(c) for c in cmd)}\n"
            f"--- stdout ---\n{_show(proc.stdout)}\n--- stderr ---\n{_show(proc.stderr)}"
        )
    return proc


def openssl(*args: str | os.PathLike[str], input: bytes | None = None, check: bool = True) -> bytes:
    """Run `openssl ARGS` (skipping when openssl is absent) and return its stdout."""
    binary = require_peer("openssl")
    return run_peer([binary, *args], input=input, check=check).stdout


def openssl_cms(*args: str | os.PathLike[str], input: bytes | None = None, check: bool = True) -> bytes:
    """Run `openssl cms ARGS` with `input` on stdin; return stdout (raise PeerError on failure when check)."""
    return openssl("cms", *args, input=input, check=check)


def openssl_cms_proc(*args: str | os.PathLike[str], input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `openssl cms ARGS` without checking the exit code (for tests that expect a refusal)."""
    binary = require_peer("openssl")
    return run_peer([binary, "cms", *args], input=input, check=False)


def write(path: Path, data: bytes) -> Path:
    """Write bytes and return the path (keeps test bodies short)."""
    path.write_bytes(data)
    return path

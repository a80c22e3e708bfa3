"""-o FILE: a regular file is replaced atomically, only on success; a FIFO or device is written in place, never
replaced (renaming a temporary file over /dev/null would turn it into a regular file)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from tests.conftest import RunCli
from tests.support.testpki import TestPKI

MESSAGE = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhello\r\n"


def test_output_to_a_fifo_writes_into_it(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice = pki.user("alice")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    proc = run_cli("sign", "--key", alice.key_path, "--cert", alice.cert_path, "-o", fifo, input=MESSAGE)
    reader.join(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and b"multipart/signed" in received[0]


def test_failed_command_leaves_an_existing_output_untouched(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    bob = pki.user("bob")
    out = tmp_path / "out.eml"
    out.write_bytes(b"previous content")
    proc = run_cli("decrypt", "--key", bob.key_path, "--cert", bob.cert_path, "-o", out, input=MESSAGE)
    assert proc.returncode == 2
    assert out.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.eml"]  # no temporary file left behind


def test_export_commands_write_into_a_fifo_too(run_cli: RunCli, tmp_path: Path) -> None:
    """The small-output commands (ca export, trust export, keys export) share the same writer."""
    home = tmp_path / "home"
    env = {"MAILSEAL_HOME": str(home), "MAILSEAL_CA_PASSPHRASE": "ca secret"}
    assert run_cli("ca", "init", "--name", "Test CA", env=env).returncode == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    proc = run_cli("ca", "export", "-o", fifo, env=env)
    reader.join(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and received[0].startswith(b"-----BEGIN CERTIFICATE-----")

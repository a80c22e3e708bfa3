"""Fixtures the CLI tests share: alice of the test PKI and a message from her; a resident agent of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.support.testpki import TestPKI, User


@pytest.fixture
def alice(pki: TestPKI) -> User:
    return pki.user("alice")


@pytest.fixture
def message(tmp_path: Path, alice: User) -> Path:
    path = tmp_path / "msg.eml"
    path.write_bytes(f"From: {alice.email}\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n".encode())
    return path


TIMEOUT = 60


class Agent:
    def __init__(self, runtime: Path, home: Path) -> None:
        self.runtime, self.home = runtime, home
        self.socket = runtime / "mailseal" / "agent.sock"

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env({"XDG_RUNTIME_DIR": str(self.runtime), "MAILSEAL_AGENT": "on", "MAILSEAL_HOME": str(self.home),
                        **extra})

    def run(self, *args: str | os.PathLike[str], cwd: Path | None = None, input: bytes | None = None,
            **env: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "mailseal.cli.launcher", *map(str, args)], input=input,
                              cwd=cwd, env=self.env(**env), capture_output=True, timeout=TIMEOUT, check=False)

    def status(self) -> dict[str, object]:
        proc = self.run("agent", "status", "--json")
        return dict(json.loads(proc.stdout))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    a = Agent(runtime, tmp_path / "home")
    yield a
    a.run("agent", "stop")

"""Fixtures for running mailseal as an administrator does: a systemd notify socket, a data directory with keys in
its store, and mailseal installed from its wheel into a fresh virtual environment."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.support.smtp_sink import free_port

REPO = Path(__file__).resolve().parents[2]


class NotifySocket:
    """A datagram socket bound where ``$NOTIFY_SOCKET`` points, as systemd's is: collects sd_notify messages."""

    def __init__(self, address: str) -> None:
        self.address = address  # a path, or "@name" for the abstract namespace
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)
        self.received: list[dict[str, str]] = []

    def wait_for(self, key: str, value: str = "1", timeout: float = 60.0, *, contains: str = "") -> dict[str, str]:
        """The next message (after those already taken) with ``key=value`` whose STATUS contains ``contains``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {key}={value} from the gateway; got {self.received}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.received.append(fields)
            if fields.get(key) == value and contains in fields.get("STATUS", ""):
                return fields

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(str(tmp_path / "notify"))
    yield sock
    sock.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation's data directory (`mailseal.demo --setup-only`): sealed keys in the store, a key file."""
    base = tmp_path_factory.mktemp("ops-demo")
    home = base / "home"
    env = cli_env({"MAILSEAL_HOME": str(home)})
    for inherited in ("MAILSEAL_CONFIG", "MAILSEAL_STORE_PASSPHRASE", "MAILSEAL_STORE_KEYFILE", "MAILSEAL_DB_URL",
                      "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET"):
        env.pop(inherited, None)
    subprocess.run([sys.executable, "-m", "mailseal.demo", "--setup-only", "--metrics-port", str(free_port()),
                    "--web-port", str(free_port()), "--portal-port", str(free_port())],
                   cwd=base, env=env, check=True, capture_output=True, timeout=180)
    return home


@dataclass
class DemoHome:
    home: Path
    settings: Path
    keyfile: Path
    env: dict[str, str]  # for a mailseal process: the home, no passphrase


@pytest.fixture
def demo_home(demo_template: Path, tmp_path: Path) -> DemoHome:
    home = tmp_path / "home"
    shutil.copytree(demo_template, home)
    env = cli_env({"MAILSEAL_HOME": str(home)})
    for inherited in ("MAILSEAL_CONFIG", "MAILSEAL_STORE_PASSPHRASE", "MAILSEAL_STORE_KEYFILE", "MAILSEAL_DB_URL",
                      "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET"):
        env.pop(inherited, None)
    return DemoHome(home, home / "mailseal.toml", home / "demo" / "store.key", env)


def _interpreter() -> str:
    """A Python that every user may run: the system's when it is recent enough (the tests' own may live under
    /root, which other users cannot enter), else this one."""
    system = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    if system:
        done = subprocess.run([system, "-c", "import sys, venv, ensurepip; print(sys.version_info >= (3, 11))"],
                              capture_output=True, text=True, check=False)
        if done.stdout.strip() == "True":
            return system
    return sys.executable


@dataclass
class Installed:
    root: Path  # world-readable: a non-root user can run what is in it
    wheel: Path
    venv: Path

    @property
    def mailseal(self) -> Path:
        return self.venv / "bin" / "mailseal"


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    """`python -m build --wheel`, then the wheel installed the normal way (with its dependencies, from the
    configured index) into a fresh virtual environment, in a folder every user can read."""
    root = Path(tempfile.mkdtemp(prefix="mailseal-install-", dir="/tmp"))
    root.chmod(0o755)
    try:
        dist = root / "dist"
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
                       check=True, capture_output=True, timeout=600)
        [wheel] = dist.glob("mailseal-*.whl")
        venv = root / "venv"
        subprocess.run([_interpreter(), "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True,
                       capture_output=True, timeout=900, env=env)
        yield Installed(root, wheel, venv)
    finally:
        shutil.rmtree(root, ignore_errors=True)

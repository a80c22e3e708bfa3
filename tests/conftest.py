"""Shared fixtures: the generated test PKI, the CLI runner and the location of the interop corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_ROOT / "src"
# `tests.support...` imports work whatever the pytest import mode or entry point.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.testpki import TestPKI  # noqa: E402

#: Interop material written by others: `../shared/corpus` beside the repository (CI clones it elsewhere).
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"

CLI_TIMEOUT = 60

RunCli = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="session", autouse=True)
def _user_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A command given no home uses the per-user default, ``$XDG_DATA_HOME/mailseal`` (docs/cli.md): here a
    temporary folder, so that no test reads or writes the data of the user running the tests; and no
    ``$MAILSEAL_HOME`` of that user's shell leaks in."""
    saved = {name: os.environ.get(name) for name in ("XDG_DATA_HOME", "MAILSEAL_HOME")}
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    os.environ.pop("MAILSEAL_HOME", None)
    yield Path(os.environ["XDG_DATA_HOME"])
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """One test PKI for the whole session (root, intermediate, cached users)."""
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared interop corpus; tests that need it skip when it is absent."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"interop corpus not found at {CORPUS_DIR}")
    return CORPUS_DIR


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a mailseal subprocess: the source tree first on PYTHONPATH (no install needed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC_DIR), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    if extra:
        env.update(extra)
    return env


def run_mailseal(
    *args: str | os.PathLike[str],
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m mailseal.cli.main ARGS` with `input` on stdin; never raises on a non-zero exit."""
    cmd: Sequence[str | os.PathLike[str]] = [sys.executable, "-m", "mailseal.cli.main", *args]
    return subprocess.run(
        cmd,
        input=b"" if input is None else input,
        capture_output=True,
        env=cli_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
        # A session of its own: no controlling terminal, so a command that would ask for a pass phrase on
        # /dev/tty fails at once, as under cron or a mail filter, instead of waiting on the developer's terminal.
        start_new_session=True,
    )


@pytest.fixture
def run_cli() -> RunCli:
    """`run_cli("verify", "--json", input=msg)` -> CompletedProcess (stdout/stderr bytes, 60 s timeout)."""
    return run_mailseal

"""mailseal as a wheel: built with `python -m build`, installed the normal way into a fresh virtual environment,
and run from there."""

from __future__ import annotations

import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.ops.conftest import REPO, Installed

pytestmark = pytest.mark.slow  # building and installing with every dependency: over a minute


def test_the_wheel_holds_every_file_of_the_package(installed: Installed) -> None:
    """Migrations, their template and any other data file: what is in src/mailseal is in the wheel."""
    source = REPO / "src"
    expected = {str(p.relative_to(source)) for p in (source / "mailseal").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert expected - names == set()
    assert "mailseal/store/migrations/script.py.mako" in names
    script = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["mailseal"]
    assert f"mailseal = {script}" in entry_points


def test_the_installed_command_runs(installed: Installed, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "MAILSEAL_HOME": str(tmp_path / "home")}
    version = subprocess.run([str(installed.mailseal), "--version"], env=env, capture_output=True, text=True,
                             timeout=60, check=False)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("mailseal 0.1.0\n")
    settings = tmp_path / "mailseal.toml"
    settings.write_text('[gateway]\nlisten = "127.0.0.1:10025"\nnext_hop = "127.0.0.1:10026"\n'
                        'accepted_domains = ["example.org"]\n')
    check = subprocess.run([str(installed.mailseal), "serve", "--config", str(settings), "--check-config"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stderr
    assert "settings OK" in check.stdout and "key_store: not created yet" in check.stdout
    # the first command that opens the store creates and migrates it: the migrations ship in the wheel
    keys = subprocess.run([str(installed.mailseal), "keys", "list"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert keys.returncode == 0, keys.stderr
    assert (tmp_path / "home" / "mailseal.db").is_file()
    check = subprocess.run([str(installed.mailseal), "serve", "--config", str(settings), "--check-config"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0 and "key_store: no sealed keys" in check.stdout, check.stderr
    # the installed package is the one in the virtual environment, not the source tree
    where = subprocess.run([str(installed.venv / "bin" / "python"), "-c", "import mailseal; print(mailseal.__file__)"],
                           env=env, capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.startswith(str(installed.venv))

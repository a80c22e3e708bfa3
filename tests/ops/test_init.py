"""`mailseal init --system` into a temporary prefix, as root, with a throwaway system account."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailseal.gateway.parts import check_settings
from tests.conftest import RunCli

USER = "mailseal-test"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd"),
                                reason="needs root and useradd (creates a system account)")


@pytest.fixture
def prefix() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mailseal-init-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _owner_mode(path: Path) -> tuple[str, str, int]:
    st = path.stat()
    return pwd.getpwuid(st.st_uid).pw_name, __import__("grp").getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)


def test_init_creates_the_layout_then_changes_nothing(run_cli: RunCli, prefix: Path) -> None:
    first = run_cli("init", "--system", "--prefix", prefix, "--user", USER)
    assert first.returncode == 0, first.stderr
    etc, data = prefix / "etc" / "mailseal", prefix / "var" / "lib" / "mailseal"
    assert _owner_mode(etc) == ("root", USER, 0o750)
    assert _owner_mode(etc / "mailseal.toml") == ("root", USER, 0o640)
    assert _owner_mode(etc / "store-passphrase") == ("root", USER, 0o640)
    assert _owner_mode(data) == (USER, USER, 0o700)
    passphrase = (etc / "store-passphrase").read_bytes()
    assert re.fullmatch(rb"[0-9a-f]{64}\n", passphrase)
    assert pwd.getpwnam(USER).pw_shell in ("/usr/sbin/nologin", "/bin/false")
    # the starter settings pass the gateway's checks as they are
    gateway, _policy = check_settings(tomllib.loads((etc / "mailseal.toml").read_text()))
    assert gateway.listen == ("127.0.0.1", 10025) and gateway.next_hop == ("127.0.0.1", 10026)

    again = run_cli("init", "--system", "--prefix", prefix, "--user", USER)
    assert again.returncode == 0, again.stderr
    out = again.stdout.decode()
    assert out.rstrip().endswith("nothing to do: everything is in place")
    assert "created" not in out and "fixed" not in out
    assert (etc / "store-passphrase").read_bytes() == passphrase  # never replaced: the keys are sealed with it

    (etc / "store-passphrase").chmod(0o644)  # someone made the secret world-readable
    fixed = run_cli("init", "--system", "--prefix", prefix, "--user", USER)
    assert f"fixed   file {etc / 'store-passphrase'}: mode 0640" in fixed.stdout.decode()
    assert _owner_mode(etc / "store-passphrase") == ("root", USER, 0o640)
    assert (etc / "store-passphrase").read_bytes() == passphrase


def test_init_without_system_or_user_is_refused(run_cli: RunCli, prefix: Path) -> None:
    done = run_cli("init", "--prefix", prefix)
    assert done.returncode == 2 and b"mailseal init --system" in done.stderr
    missing = run_cli("init", "--system", "--prefix", prefix, "--user", "mailseal-absent-x", "--no-create-user")
    assert missing.returncode == 2 and b"there is no user mailseal-absent-x" in missing.stderr
    assert not (prefix / "etc").exists()

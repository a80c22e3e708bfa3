"""One data home whatever the current folder: --home / $MAILSEAL_HOME, else $XDG_DATA_HOME/mailseal, else
~/.local/share/mailseal; `mailseal --version` and `mailseal status` say which one a command uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailseal.config import data_dir, load_settings, settings_path
from tests.conftest import RunCli
from tests.support.testpki import TestPKI


def test_mailseal_home_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "explicit"


def test_xdg_data_home_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAILSEAL_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "mailseal"
    assert settings_path() == tmp_path / "xdg" / "mailseal" / "mailseal.toml"


def test_without_xdg_the_home_is_under_local_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAILSEAL_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert data_dir() == tmp_path / "user" / ".local" / "share" / "mailseal"


def test_a_relative_xdg_data_home_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The XDG Base Directory Specification: relative paths in its variables are invalid and ignored."""
    monkeypatch.delenv("MAILSEAL_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    assert data_dir() == tmp_path / "user" / ".local" / "share" / "mailseal"


def test_the_home_does_not_change_with_the_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAILSEAL_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = data_dir()
    monkeypatch.chdir(tmp_path / "b")
    assert data_dir() == first and first.is_absolute()


def test_a_relative_mailseal_home_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILSEAL_HOME", "here")
    assert data_dir() == tmp_path / "here"


def test_settings_file_in_the_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAILSEAL_CONFIG", raising=False)
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path))
    (tmp_path / "mailseal.toml").write_text('[gateway]\nhostname = "mx.example.org"\n')
    assert load_settings() == {"gateway": {"hostname": "mx.example.org"}}


# -- the command line ---------------------------------------------------------------------------------------


def _status(run_cli: RunCli, *args: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    done = run_cli(*args, "status", "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_same_answer_from_two_folders(run_cli: RunCli, pki: TestPKI, tmp_path: Path) -> None:
    """A trust anchor added in one folder is there in another: the home no longer follows the current folder."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    added = run_cli("trust", "add", pki.root_path, cwd=one, env=env)
    assert added.returncode == 0, added.stderr.decode()
    listed = run_cli("trust", "list", "--json", cwd=two, env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    assert len(json.loads(listed.stdout)["certificates"]) == 1
    assert not (one / "mailseal-data").exists() and not (two / "mailseal-data").exists()
    first, second = _status(run_cli, cwd=one, env=env), _status(run_cli, cwd=two, env=env)
    assert first == second
    assert first["home"] == str(tmp_path / "xdg" / "mailseal") and first["home_from"] == "default"
    assert first["trust_list"] == {"path": str(tmp_path / "xdg" / "mailseal" / "trust"), "anchors": 1,
                                   "intermediates": 0, "in_effect": "files"}


def test_home_option(run_cli: RunCli, tmp_path: Path) -> None:
    """--home DIR, relative to the folder it is given in, beats $MAILSEAL_HOME; the commands it starts see it."""
    (tmp_path / "work").mkdir()
    facts = _status(run_cli, "--home", "data", cwd=tmp_path / "work", env={"MAILSEAL_HOME": str(tmp_path / "env")})
    assert facts["home"] == str(tmp_path / "work" / "data") and facts["home_from"] == "--home"
    assert facts["settings"] == {"path": str(tmp_path / "work" / "data" / "mailseal.toml"), "exists": False}
    store = facts["store"]
    assert isinstance(store, dict)
    assert store["url"] == f"sqlite:///{tmp_path / 'work' / 'data' / 'mailseal.db'}" and not store["exists"]
    assert not (tmp_path / "work" / "data").exists()  # status only looks


def test_version_prints_the_home(run_cli: RunCli, tmp_path: Path) -> None:
    done = run_cli("--version", env={"MAILSEAL_HOME": str(tmp_path / "h")})
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("mailseal ") and lines[1] == f"home: {tmp_path / 'h'} (from $MAILSEAL_HOME)"
    given = run_cli("--home", tmp_path / "other", "--version")
    assert f"home: {tmp_path / 'other'} (from --home)" in given.stdout.decode()


def test_status_counts_what_the_home_holds(run_cli: RunCli, pki: TestPKI, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"MAILSEAL_HOME": str(home), "MAILSEAL_STORE_PASSPHRASE": "store secret"}
    user = pki.user("alice")
    for args in (("trust", "add", pki.root_path), ("certs", "import", user.cert_path),
                 ("keys", "import", user.p12_path, "--pass", "pass:test")):
        done = run_cli(*args, env=env, cwd=tmp_path)
        assert done.returncode == 0, f"{args}: {done.stderr.decode()}"
    text = run_cli("status", env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr.decode()
    out = text.stdout.decode()
    assert f"home: {home} (from $MAILSEAL_HOME)" in out
    assert "keys: 1" in out and "certificates: 1" in out and f"trust anchors: 1 in {home / 'trust'}" in out
    assert "trust list in effect: the store" in out  # status only looks: the file list is taken over on first use
    assert "Traceback" not in out + text.stderr.decode()
    assert run_cli("trust", "list", env=env, cwd=tmp_path).returncode == 0
    out = run_cli("status", env=env, cwd=tmp_path).stdout.decode()
    assert f"trust anchors: 0 in {home / 'trust'}, 1 in the store" in out


def test_status_hides_a_database_password(run_cli: RunCli, tmp_path: Path) -> None:
    url = "postgresql+psycopg://mailseal:topsecret@127.0.0.1:1/nowhere"
    done = run_cli("status", env={"MAILSEAL_HOME": str(tmp_path), "MAILSEAL_DB_URL": url})
    out = done.stdout.decode() + done.stderr.decode()
    assert "topsecret" not in out and "postgresql+psycopg://mailseal:***@127.0.0.1:1/nowhere" in out
    assert done.returncode == 1 and "cannot open" in out and "Traceback" not in out


def test_no_test_writes_into_the_user_data_home() -> None:
    """The suite's conftest points the per-user default at a temporary folder."""
    assert os.environ["XDG_DATA_HOME"] != str(Path.home() / ".local" / "share")


def test_a_named_settings_file_that_is_missing_is_a_configuration_error(run_cli: RunCli, tmp_path: Path) -> None:
    proc = run_cli("encrypt", "--to", "x@example.org", input=b"Subject: s\r\n\r\nx\r\n",
                   env={"MAILSEAL_HOME": str(tmp_path), "MAILSEAL_CONFIG": str(tmp_path / "nowhere.toml")})
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("mailseal: error[configuration]: the settings file ")


def test_settings_that_are_not_toml_are_a_configuration_error(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from mailseal.errors import ConfigurationError, ErrorCode

    (tmp_path / "mailseal.toml").write_text("[gateway\n")
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path))
    monkeypatch.delenv("MAILSEAL_CONFIG", raising=False)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.code == ErrorCode.CONFIGURATION and "not valid TOML" in info.value.message


def test_a_key_file_made_by_many_processes_at_once_is_whole_and_the_same_for_all(tmp_path: Path) -> None:
    """Several front-end processes start together and each makes the console or portal key at first use: a naive
    create-then-write lets one read the file empty ("must hold 64 hex digits") or two keep different keys."""
    path = tmp_path / "keys" / "portal.key"
    script = ("import sys; from pathlib import Path; from mailseal.config import secret_key_file; "
              "print(secret_key_file(Path(sys.argv[1]), 'portal key').hex())")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(12)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 12, [err for _, err in outputs]
    keys = {out.strip() for out, _ in outputs}
    assert keys == {path.read_text().strip()} and len(bytes.fromhex(keys.pop())) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["portal.key"]  # no temporary file left behind

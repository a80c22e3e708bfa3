"""`mailseal policy import | export | clear` and how `check` and `explain` read a stored policy (CliRunner over a
real SQLite store in the data directory)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailseal.cli.main import cli
from mailseal.store import Store, events, stored_policy
from tests.policy.test_cli import SETTINGS


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MAILSEAL_HOME", str(home))
    monkeypatch.delenv("MAILSEAL_DB_URL", raising=False)
    (home / "mailseal.toml").write_text(SETTINGS)
    monkeypatch.setenv("MAILSEAL_CONFIG", str(home / "mailseal.toml"))
    return home


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["policy", *args])


def _explain_bob() -> dict[str, object]:
    res = run("explain", "--from", "alice@example.org", "--to", "bob@partner.example", "--json")
    assert res.exit_code == 0, res.output
    data: dict[str, object] = json.loads(res.output)
    return data


def test_import_then_export_round_trips(home: Path) -> None:
    res = run("import")
    assert res.exit_code == 0, res.output
    assert "version 1" in res.output and "reload" in res.output
    exported = run("export")
    assert exported.exit_code == 0, exported.output
    assert tomllib.loads(exported.output)["policy"] == tomllib.loads(SETTINGS)["policy"]
    as_json = json.loads(run("export", "--json").output)
    assert as_json["version"] == 1 and as_json["policy"]["domains"]["partner.example"]["encrypt"] == "require"


def test_the_stored_policy_replaces_the_files(home: Path) -> None:
    run("import")
    before = _explain_bob()
    assert before["held"] == ["bob@partner.example"]  # the file's: encrypt = "require", hold
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        stored_policy.save(store, {"domains": {"partner.example": {"encrypt": "never"}}})
    finally:
        store.close()
    after = _explain_bob()
    recipients = after["recipients"]
    assert isinstance(recipients, list)
    assert after["held"] == [] and recipients[0]["rule"] == "domain partner.example"
    check = json.loads(run("check", "--json").output)
    assert check["source"] == "the store (version 2)" and check["version"] == 2
    assert any("not used" in w for w in check["warnings"])
    file_only = json.loads(run("check", "--file", "--json").output)
    assert file_only["source"] == "the settings file"
    assert file_only["policy"]["domains"]["partner.example"]["encrypt"] == "require"
    no_store = json.loads(run("explain", "--from", "alice@example.org", "--to", "bob@partner.example",
                              "--no-store", "--json").output)
    assert no_store["held"] == ["bob@partner.example"]  # --no-store: the file's policy


def test_an_invalid_file_policy_is_not_imported(home: Path) -> None:
    (home / "mailseal.toml").write_text('[gateway]\naccepted_domains = ["example.org"]\n[policy]\nsign = "maybe"\n')
    res = run("import")
    assert res.exit_code == 2 and "error[configuration]" in res.output and "policy.sign" in res.output
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        assert stored_policy.load(store) is None
        assert not [e for e in events(store) if e.action == "policy.save"]
    finally:
        store.close()


def test_clear_returns_to_the_file(home: Path) -> None:
    assert run("export").exit_code == 2  # nothing stored yet
    run("import")
    res = run("clear")
    assert res.exit_code == 0 and "version 1 removed" in res.output
    assert json.loads(run("check", "--json").output)["source"] == "the settings file"
    assert run("clear").exit_code == 2

"""`mailseal policy check` and `mailseal policy explain` through click's CliRunner (text and --json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailseal.cli.main import cli
from mailseal.cms.identity import Identity
from mailseal.store import Directory, KeyStore, Store
from tests.support.testpki import TestPKI

SETTINGS = """
[gateway]
accepted_domains = ["example.org"]

[policy]
subject_tag_signed = "[signed]"

[policy.domains."partner.example"]
encrypt = "require"
on_missing_certificate = "hold"

[[policy.rules]]
name = "secure-subject"
direction = "outbound"
subject_contains = "[secure]"
remove_trigger = true
encrypt = "require"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # An empty data directory: explain must not create a store there.
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAILSEAL_CONFIG", raising=False)
    monkeypatch.delenv("MAILSEAL_DB_URL", raising=False)
    path = tmp_path / "mailseal.toml"
    path.write_text(SETTINGS)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["policy", *args])


def test_check_prints_a_summary(config: Path) -> None:
    res = run("check", "--config", str(config))
    assert res.exit_code == 0, res.output
    assert "policy: valid" in res.output
    assert "accepted domains: example.org" in res.output
    assert 'domain partner.example: encrypt="require" on_missing_certificate="hold"' in res.output
    assert "1. secure-subject:" in res.output


def test_check_json(config: Path) -> None:
    res = run("check", "--config", str(config), "--json")
    data = json.loads(res.output)
    assert data["valid"] is True and data["warnings"] == []
    assert data["policy"]["global"]["sign"] == "if-key"
    assert data["policy"]["rules"][0]["name"] == "secure-subject"
    assert data["policy"]["smime"]["fork_bcc"] is True


def test_check_bad_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\nencrypt = "always"\n')
    res = run("check", "--config", str(bad))
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        'mailseal: error[configuration]: policy.encrypt: "always" is not one of require, if-possible, never, '
        'portal, encrypt-or-portal']


def test_check_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\n")
    res = run("check", "--config", str(bad))
    assert res.exit_code == 2 and "error[configuration]: the settings file" in res.output


def test_check_reads_mailseal_config(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_CONFIG", str(config))
    res = run("check")
    assert res.exit_code == 0 and "partner.example" in res.output


def test_check_missing_settings_file_is_a_configuration_error(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_CONFIG", str(tmp_path / "absent.toml"))
    res = run("check")
    assert res.exit_code == 2 and "error[configuration]" in res.output


def test_check_warns_about_missing_accepted_domains(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[policy]\n")
    res = run("check", "--config", str(path))
    assert res.exit_code == 0 and "warning: gateway.accepted_domains is empty" in res.output


def test_explain_text(config: Path) -> None:
    res = run("explain", "--config", str(config), "--from", "alice@example.org", "--to", "bob@partner.example",
              "--to", "carol@other.example", "--subject", "[secure] Q3", "--assume-key", "alice@example.org",
              "--assume-cert", "carol@other.example")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "no store in the data directory" in out
    assert "bob@partner.example: outbound, hold (decided by rule secure-subject)" in out
    assert "held: encryption required but no certificate for bob@partner.example" in out
    assert "carol@other.example: outbound, deliver (decided by rule secure-subject)" in out
    assert "sign     yes, as alice@example.org" in out
    assert 'setting  encrypt = "require"   (rule secure-subject)' in out
    assert 'setting  on_missing_certificate = "hold"   (domain partner.example)' in out
    assert "subject  rewritten to 'Q3'" in out
    assert "1. carol@other.example: signed, encrypted" in out
    assert "held: bob@partner.example" in out
    assert not (config.parent / "home").exists()  # nothing created


def test_explain_json(config: Path) -> None:
    res = run("explain", "--config", str(config), "--from", "alice@example.org", "--to", "bob@partner.example",
              "--bcc", "dave@other.example", "--assume-cert", "bob@partner.example",
              "--assume-cert", "dave@other.example", "--no-store", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["facts"] == "assumptions only (--no-store)"
    bob, dave = data["recipients"]
    assert (bob["direction"], bob["encrypt"], bob["sign"], bob["bcc"]) == ("outbound", True, False, False)
    assert "not signed: no key for alice@example.org" in bob["notes"]
    assert dave["bcc"] is True and dave["rule"] == "default"
    assert [g["recipients"] for g in data["groups"]] == [["bob@partner.example"], ["dave@other.example"]]


def test_explain_inbound(config: Path) -> None:
    res = run("explain", "--config", str(config), "--from", "bob@partner.example", "--to", "alice@example.org",
              "--signed", "--no-store")
    assert res.exit_code == 0, res.output
    assert "alice@example.org: inbound, deliver" in res.output
    assert "verify   yes" in res.output and "tag      '[signed]'" in res.output


def test_explain_signing_oracle(config: Path) -> None:
    res = run("explain", "--config", str(config), "--from", "alice@example.org", "--header-from",
              "ceo@example.org", "--to", "x@other.example", "--assume-key", "alice@example.org",
              "--assume-key", "ceo@example.org", "--no-store", "--json")
    rcpt = json.loads(res.output)["recipients"][0]
    assert rcpt["sign"] is False
    assert any("differs from the From address ceo@example.org" in n for n in rcpt["notes"])


def test_explain_header_and_size_triggers(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[gateway]\naccepted_domains = ["example.org"]\n[[policy.rules]]\nname = "h"\n'
                    'header = {name = "X-Secure", value = "yes"}\nmin_size = "1M"\naction = "reject"\n')
    base = ("explain", "--config", str(path), "--from", "a@example.org", "--to", "b@x.example", "--no-store",
            "--json")
    hit = json.loads(run(*base, "--header", "X-Secure: YES", "--size", "2M").output)
    assert hit["recipients"][0]["action"] == "reject" and hit["refused"] == ["b@x.example"]
    small = json.loads(run(*base, "--header", "X-Secure: yes", "--size", "1000").output)
    assert small["recipients"][0]["action"] == "deliver"


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "a@example.org"], "give at least one recipient"),
    (["--from", "a@example.org", "--to", "b@x.example", "--header", "nocolon"], "write it as 'Name: value'"),
    (["--from", "a@example.org", "--to", "b@x.example", "--size", "huge"], "--size"),
])
def test_explain_usage_errors(config: Path, args: list[str], message: str) -> None:
    res = run("explain", "--config", str(config), "--no-store", *args)
    assert res.exit_code == 2 and "error[usage]" in res.output and message in res.output


def test_explain_reads_the_store(config: Path, tmp_path: Path, pki: TestPKI) -> None:
    home = tmp_path / "home"
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        alice = pki.user("alice")
        KeyStore(store, b"pass", scrypt={"n": 2**12, "r": 8, "p": 1}).add(
            Identity(alice.key, alice.cert, tuple(alice.chain)), "sign")
        Directory(store).add(pki.user("bob").cert)
    finally:
        store.close()
    res = run("explain", "--config", str(config), "--from", "alice@example.org", "--to", "bob@example.org",
              "--to", "zed@example.org", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    bob, zed = data["recipients"]
    assert data["facts"] == "assumptions and the store"
    assert bob["sign"] and bob["signer"] == "alice@example.org" and bob["encrypt"]
    assert zed["sign"] and not zed["encrypt"]

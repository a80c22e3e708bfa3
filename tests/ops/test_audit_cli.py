"""`mailseal audit list|show|export` on the records of real messages through the gateway, on SQLite and PostgreSQL;
each filter is shown to leave out what it should; the [log] file of `mailseal serve` (rotated by mailseal or by
logrotate)."""

from __future__ import annotations

import csv
import io
import json
import logging
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailseal.cli.timespec import parse_duration, parse_moment
from mailseal.errors import ConfigurationError, UsageError
from mailseal.gateway.logsetup import setup_logging
from mailseal.gateway.settings import LogSettings
from tests.conftest import RunCli
from tests.gateway.conftest import StartGateway, org, sink, start_gateway  # noqa: F401  (fixtures)
from tests.gateway.harness import message
from tests.store.conftest import postgres_url, store_url  # noqa: F401  (fixtures)

POLICY = {"policy": {"domains": {"partner.example": {"encrypt": "require"}}}}


@pytest.fixture
def audited(start_gateway: StartGateway, store_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:  # noqa: F811
    """Three messages through a gateway whose store is ``store_url``: alice -> carol (signed and encrypted),
    alice -> dave (refused: no certificate, encryption required), bob -> alice (internal, signed)."""
    gw = start_gateway(POLICY, store_url=store_url)
    ids = {}
    sealed = message("alice@example.org", ["carol@partner.example"], "to carol")
    gw.send(sealed, "alice@example.org", ["carol@partner.example"])
    ids["carol"] = sealed["Message-ID"]
    refused = message("alice@example.org", ["dave@partner.example"], "to dave")
    with pytest.raises(smtplib.SMTPDataError):
        gw.send(refused, "alice@example.org", ["dave@partner.example"])
    ids["dave"] = "-"  # refused before processing: no Message-ID was read, the subject is "-"
    internal = message("bob@example.org", ["alice@example.org"], "to alice")
    gw.send(internal, "bob@example.org", ["alice@example.org"])
    ids["alice"] = internal["Message-ID"]
    gw.gateway.audit_writer.flush()
    home = tmp_path / "clihome"
    home.mkdir()
    yield {"env": {"MAILSEAL_HOME": str(home), "MAILSEAL_DB_URL": store_url}, "ids": ids}


def _json(run_cli: RunCli, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    done = run_cli("audit", "list", "--json", *args, env=env)
    assert done.returncode == 0, done.stderr.decode()
    events: list[dict[str, Any]] = json.loads(done.stdout)["events"]
    return events


def _subjects(events: list[dict[str, Any]]) -> list[str]:
    return [e["subject"] for e in events]


def test_list_shows_the_messages_of_the_run(audited: dict[str, Any], run_cli: RunCli) -> None:
    env, ids = audited["env"], audited["ids"]
    done = run_cli("audit", "list", "--action", "gateway.message", env=env)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "TIME", "ACTOR", "ACTION", "RESULT", "FROM", "TO", "DID", "SUBJECT"]
    rows = [line.split() for line in lines[1:]]
    assert [r[-1] for r in rows] == [ids["carol"], ids["dave"], ids["alice"]]  # oldest first
    assert [(r[4], r[5], r[6]) for r in rows] == [("accepted", "alice@example.org", "carol@partner.example"),
                                                  ("refused", "alice@example.org", "dave@partner.example"),
                                                  ("accepted", "bob@example.org", "alice@example.org")]
    assert rows[0][7] == "encrypted,signed"
    # Without a filter the store's other events (the key imports of the set-up) are there too.
    everything = _json(run_cli, env)
    assert {e["action"] for e in everything} >= {"gateway.message", "keys.import"}


def test_each_filter_leaves_out_the_rest(audited: dict[str, Any], run_cli: RunCli) -> None:
    env, ids = audited["env"], audited["ids"]
    assert _subjects(_json(run_cli, env, "--from", "BOB@example.org")) == [ids["alice"]]
    assert _subjects(_json(run_cli, env, "--from", "alice@example.org")) == [ids["carol"], ids["dave"]]
    assert _subjects(_json(run_cli, env, "--to", "dave@partner.example")) == [ids["dave"]]
    assert _subjects(_json(run_cli, env, "--to", "nobody@partner.example")) == []
    assert _subjects(_json(run_cli, env, "--result", "refused")) == [ids["dave"]]
    assert _subjects(_json(run_cli, env, "--result", "accepted")) == [ids["carol"], ids["alice"]]
    assert _subjects(_json(run_cli, env, "--did", "encrypted")) == [ids["carol"], ids["alice"]]  # not refused
    assert _subjects(_json(run_cli, env, "--did", "relayed")) == []
    assert _subjects(_json(run_cli, env, "--action", "gateway", "--limit", "1")) == [ids["alice"]]
    assert {e["action"] for e in _json(run_cli, env, "--action", "keys")} == {"keys.import"}
    assert _subjects(_json(run_cli, env, "--from", "alice@example.org", "--result", "accepted")) == [ids["carol"]]
    # Time: --since is inclusive, --until exclusive; relative forms count back from now.
    messages = _json(run_cli, env, "--action", "gateway.message")
    second = messages[1]["time"]
    assert _subjects(_json(run_cli, env, "--action", "gateway.message", "--since", second)) == [ids["dave"],
                                                                                               ids["alice"]]
    assert _subjects(_json(run_cli, env, "--action", "gateway.message", "--until", second)) == [ids["carol"]]
    assert len(_json(run_cli, env, "--action", "gateway.message", "--since", "1h")) == 3
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert _json(run_cli, env, "--since", tomorrow) == []


def test_show_prints_the_whole_record(audited: dict[str, Any], run_cli: RunCli) -> None:
    env, ids = audited["env"], audited["ids"]
    event = _json(run_cli, env, "--result", "refused")[0]
    done = run_cli("audit", "show", str(event["id"]), env=env)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert f"subject: {ids['dave']}" in text and "  result: refused" in text and "  reply: 550" in text
    assert "  to: dave@partner.example" in text and "dave@partner.example" in text.split("reason:")[1]
    as_json = json.loads(run_cli("audit", "show", str(event["id"]), "--json", env=env).stdout)
    assert as_json == event
    missing = run_cli("audit", "show", "999999", env=env)
    assert missing.returncode == 2 and missing.stderr.decode().startswith("mailseal: error[usage]: no audit event")


def test_export_csv_json_and_json_lines(audited: dict[str, Any], run_cli: RunCli, tmp_path: Path) -> None:
    env, ids = audited["env"], audited["ids"]
    out = tmp_path / "audit.csv"
    done = run_cli("audit", "export", "--format", "csv", "--action", "gateway.message", "-o", out, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert out.stat().st_mode & 0o077 == 0  # it names senders and recipients
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["subject"], r["from"], r["to"], r["result"]) for r in rows] == [
        (ids["carol"], "alice@example.org", "carol@partner.example", "accepted"),
        (ids["dave"], "alice@example.org", "dave@partner.example", "refused"),
        (ids["alice"], "bob@example.org", "alice@example.org", "accepted")]
    assert json.loads(rows[0]["detail"])["copies"][0]["cipher"] == "aes256-gcm"
    lines = run_cli("audit", "export", "--format", "jsonl", "--to", "carol@partner.example", env=env).stdout
    assert [json.loads(line)["subject"] for line in lines.decode().splitlines()] == [ids["carol"]]
    array = json.loads(run_cli("audit", "export", "--format", "json", "--from", "alice@example.org", env=env).stdout)
    assert [e["subject"] for e in array] == [ids["carol"], ids["dave"]]
    empty = json.loads(run_cli("audit", "export", "--format", "json", "--from", "x@example.org", env=env).stdout)
    assert empty == []


def test_bad_times_are_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path)}
    done = run_cli("audit", "list", "--since", "yesterday", env=env)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("mailseal: error[usage]: --since must be an ISO 8601 date")
    nothing = run_cli("audit", "list", env=env)
    assert nothing.returncode == 2 and "no store in" in nothing.stderr.decode()


def test_time_forms() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert parse_moment("2h", now) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert parse_moment("7d", now) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_moment("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_moment("2026-12-01T08:30+01:00", now) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert parse_moment("2026-12-01T08:30:00Z", now) == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert parse_duration("30") == parse_duration("30d") == timedelta(days=30)
    assert parse_duration("2w") == timedelta(days=14)
    with pytest.raises(UsageError):
        parse_duration("30 days")


# -- [log]: where serve logs --------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_log_file_rotated_by_mailseal(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "gateway.log"
    setup_logging({"log": {"file": str(path), "max_bytes": "1K", "backups": 2}}, "info")
    log = logging.getLogger("mailseal.gateway")
    for n in range(100):
        log.info(json.dumps({"event": "message", "n": n, "pad": "x" * 40}))
    assert path.stat().st_size <= 1024
    assert (tmp_path / "gateway.log.1").is_file() and (tmp_path / "gateway.log.2").is_file()
    assert not (tmp_path / "gateway.log.3").exists()  # backups = 2
    assert '"n": 99' in path.read_text(encoding="utf-8")


def test_log_file_reopened_after_logrotate_moved_it(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "gateway.log"
    setup_logging({"log": {"file": str(path)}}, "info")
    log = logging.getLogger("mailseal.gateway")
    log.info("before the rotation")
    path.rename(tmp_path / "gateway.log.1")  # what logrotate does (without copytruncate)
    log.info("after the rotation")
    assert "after" not in (tmp_path / "gateway.log.1").read_text(encoding="utf-8")
    assert "after the rotation" in path.read_text(encoding="utf-8")
    logging.getLogger("mail.log").info("aiosmtpd chatter")
    assert "chatter" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("table", "complaint"), [
    ({"file": "gateway.log"}, "absolute path"),
    ({"file": "/nonexistent-dir/gateway.log"}, "does not exist"),
    ({"max_bytes": "10M"}, "need log.file"),
    ({"file": "/tmp/gw.log", "backups": 3}, "needs log.max_bytes"),
    ({"file": "/tmp/gw.log", "max_bytes": "ten"}, "log.max_bytes must be"),
    ({"file": "/tmp/gw.log", "max_bytes": "1M", "backups": 0}, "log.backups must be"),
    ({"file": "/tmp/gw.log", "rotate": True}, "unknown setting log.rotate"),
])
def test_log_settings_are_checked(table: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        LogSettings.from_settings({"log": table})


def test_check_config_checks_the_log_table(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text('[gateway]\nnext_hop = "127.0.0.1:2526"\naccepted_domains = ["example.org"]\n'
                      '[log]\nfile = "relative.log"\n')
    done = run_cli("serve", "--config", config, "--check-config", env={"MAILSEAL_HOME": str(tmp_path)})
    assert done.returncode == 78  # EX_CONFIG, as serve exits for every settings error (docs/cli.md)
    assert done.stderr.decode().strip() == ("mailseal: error[configuration]: log.file must be an absolute path, "
                                            "not 'relative.log'")

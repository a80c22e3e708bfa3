"""`mailseal portal list|show|revoke|extend|purge|password|accounts` on a store with portal messages (docs/portal.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp

from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.store.portal_accounts import PortalAccounts
from mailseal.store.portal_key import portal_key
from tests.conftest import RunCli


def _home(tmp_path: Path) -> tuple[dict[str, str], PortalStore, list[str]]:
    home = tmp_path / "home"
    env = {"MAILSEAL_HOME": str(home)}
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    portal = PortalStore(store, portal_key(home / "portal.key"))
    now = datetime.now(UTC)
    ids = [portal.deposit(b"Subject: a\r\n\r\nsecret\r\n", "alice@example.org", ["dave@partner.example"],
                          brand="example.org", now=now - timedelta(days=20), expiry_days=1).id,
           portal.deposit(b"Subject: b\r\n\r\nsecret\r\n", "bob@example.org", ["dave@partner.example",
                                                                            "eve@partner.example"],
                          bcc=["eve@partner.example"], brand="example.org", now=now).id]
    portal.open_message(ids[1], "dave@partner.example")
    store.close()
    return env, portal, ids


def test_list_show_revoke_extend_purge(run_cli: RunCli, tmp_path: Path) -> None:
    env, _, (old, new) = _home(tmp_path)
    res = run_cli("portal", "list", env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert old in out and new in out and "expired" in out and "eve@partner.example (Bcc)" in out
    listed = json.loads(run_cli("portal", "list", "--state", "active", "--json", env=env).stdout)
    assert [m["id"] for m in listed["messages"]] == [new]
    shown = run_cli("portal", "show", new, env=env).stdout.decode()
    assert "dave@partner.example  no   not yet   1" in shown and "portal.read" in shown and "portal.deposit" in shown
    res = run_cli("portal", "extend", new, "30", env=env)
    assert res.returncode == 0 and f"{new} now expires" in res.stdout.decode()
    revoked = json.loads(run_cli("portal", "revoke", "--sender", "bob@example.org", "--note", "oops", "--json",
                                 env=env).stdout)
    assert revoked == {"revoked": [new]}
    detail = json.loads(run_cli("portal", "show", new, "--json", env=env).stdout)
    assert detail["state"] == "revoked" and detail["revoked_note"] == "oops"
    purged = json.loads(run_cli("portal", "purge", "--json", env=env).stdout)
    assert purged["messages"] == 1
    assert json.loads(run_cli("portal", "show", old, "--json", env=env).stdout)["state"] == "purged"


def test_errors_are_typed(run_cli: RunCli, tmp_path: Path) -> None:
    env, _, (_old, new) = _home(tmp_path)
    res = run_cli("portal", "show", "0" * 32, env=env)
    assert res.returncode == 2 and b"error[portal]" in res.stderr and b"Traceback" not in res.stderr
    res = run_cli("portal", "extend", new, "999", env=env)
    assert res.returncode == 2 and b"error[usage]" in res.stderr
    res = run_cli("portal", "revoke", env=env)
    assert res.returncode == 2 and b"name the messages to revoke" in res.stderr


def test_commands_work_without_the_portal_key_and_make_none(run_cli: RunCli, tmp_path: Path) -> None:
    env, _, (_old, new) = _home(tmp_path)
    (tmp_path / "home" / "portal.key").unlink()
    assert run_cli("portal", "revoke", new, env=env).returncode == 0
    assert not (tmp_path / "home" / "portal.key").exists()


def test_show_and_list_say_who_was_notified(run_cli: RunCli, tmp_path: Path) -> None:
    env, portal, (_old, new) = _home(tmp_path)
    when = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert portal.mark_notified(new, ["dave@partner.example"], when) == 1
    shown = run_cli("portal", "show", new, env=env).stdout.decode()
    [dave] = [line for line in shown.splitlines() if line.startswith("dave@partner.example")]
    [eve] = [line for line in shown.splitlines() if line.startswith("eve@partner.example")]
    assert "2026-03-04 05:06" in dave and "not yet" in eve
    [row] = [line for line in run_cli("portal", "list", env=env).stdout.decode().splitlines() if new in line]
    assert " 1/2 " in row
    detail = json.loads(run_cli("portal", "show", new, "--json", env=env).stdout)
    assert {r["address"]: r["notified"] for r in detail["recipients"]} == {
        "dave@partner.example": "2026-03-04T05:06:00Z", "eve@partner.example": None}


def test_password_sets_a_new_one(run_cli: RunCli, tmp_path: Path) -> None:
    env, portal, (_old, new) = _home(tmp_path)
    res = run_cli("portal", "password", new, env=env)
    assert res.returncode == 0, res.stderr
    [password] = re.findall(r"\b[A-Z2-9]{5}(?:-[A-Z2-9]{5}){3}\b", res.stdout.decode())
    assert portal.check_password(new, "dave@partner.example", password)
    assert portal.show(new).proof == "password"
    chosen = run_cli("portal", "password", new, "--stdin", env=env, input=b"my own long password\n")
    assert chosen.returncode == 0 and b"my own long password" not in chosen.stdout
    assert portal.check_password(new, "dave@partner.example", "my own long password")
    assert not portal.check_password(new, "dave@partner.example", password)
    short = run_cli("portal", "password", new, "--stdin", env=env, input=b"short\n")
    assert short.returncode == 2 and b"error[usage]" in short.stderr


def test_accounts_list_reset_remove(run_cli: RunCli, tmp_path: Path) -> None:
    env, portal, _ = _home(tmp_path)
    accounts = PortalAccounts(portal.store, portal_key(tmp_path / "home" / "portal.key"))
    now = datetime.now(UTC)
    secret = accounts.begin_enrolment("dave@partner.example", now)
    assert accounts.enrol("dave@partner.example", "a long portal password", pyotp.TOTP(secret).at(now), now)
    accounts.begin_enrolment("eve@partner.example", now)  # started, not finished
    listed = json.loads(run_cli("portal", "accounts", "list", "--json", env=env).stdout)
    assert {a["address"]: a["enrolled"] for a in listed["accounts"]} == {"dave@partner.example": True,
                                                                        "eve@partner.example": False}
    assert "dave@partner.example" in run_cli("portal", "accounts", "list", env=env).stdout.decode()
    res = run_cli("portal", "accounts", "reset", "Dave@Partner.example", env=env)
    assert res.returncode == 0, res.stderr
    assert not accounts.get("dave@partner.example").enrolled  # type: ignore[union-attr]
    assert run_cli("portal", "accounts", "remove", "eve@partner.example", env=env).returncode == 0
    assert accounts.get("eve@partner.example") is None
    missing = run_cli("portal", "accounts", "remove", "eve@partner.example", env=env)
    assert missing.returncode == 2 and b"error[portal]" in missing.stderr

"""/api/v1/policy: the settings in effect with their sources, the tester (what `mailseal policy explain --json`
says for the same message on the same store), replacing the stored policy (checked, audited, admin only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from mailseal.cli.main import cli
from mailseal.store import events, stored_policy
from mailseal.store.apitokens import ApiTokens
from tests.web.conftest import Console, csrf_of
from tests.web.policy_support import settings_file, stocked

__all__ = ["settings_file", "stocked"]

MESSAGE = {"from": "alice@example.org", "to": ["bob@partner.example", "carol@partner.example"],
           "bcc": ["dave@example.org"], "subject": "[secure] numbers", "size": "2M"}


def _explain(console: Console, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, object]:
    monkeypatch.setenv("MAILSEAL_DB_URL", str(console.store.engine.url))
    res = CliRunner().invoke(cli, ["policy", "explain", "--json", *args])
    assert res.exit_code == 0, res.output
    out: dict[str, object] = json.loads(res.output)
    return out


def test_the_tester_answers_what_explain_answers(stocked: Console, root: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    answer = root.post("/api/v1/policy/test", json=MESSAGE, headers={"X-CSRF-Token": csrf_of(root)})
    assert answer.status_code == 200, answer.text
    cli_says = _explain(stocked, monkeypatch, "--from", "alice@example.org", "--to", "bob@partner.example",
                        "--to", "carol@partner.example", "--bcc", "dave@example.org", "--subject", "[secure] numbers",
                        "--size", "2M")
    assert answer.json() == cli_says
    bob, carol, dave = answer.json()["recipients"]
    # the store's facts: alice signs, bob has a certificate; the rule demands encryption, carol's domain holds
    assert bob["sign"] and bob["encrypt"] and bob["rule"] == "rule secure-subject"
    assert carol["action"] == "hold" and carol["rule"] == "rule secure-subject"
    assert dave["direction"] == "internal" and dave["bcc"]


def test_changing_a_setting_changes_the_decision(stocked: Console, root: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    token = csrf_of(root)
    message = {"from": "alice@example.org", "to": ["carol@partner.example"]}
    before = root.post("/api/v1/policy/test", json=message, headers={"X-CSRF-Token": token}).json()
    assert before["recipients"][0]["action"] == "deliver" and not before["recipients"][0]["encrypt"]
    current = root.get("/api/v1/policy").json()
    assert current["source"] == "the settings file" and current["version"] is None
    table = current["policy"]
    table["domains"]["partner.example"]["encrypt"] = "require"
    saved = root.put("/api/v1/policy", json={"policy": table, "version": 0}, headers={"X-CSRF-Token": token})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1 and "reload" in saved.json()["note"]
    after = root.post("/api/v1/policy/test", json=message, headers={"X-CSRF-Token": token}).json()
    carol = after["recipients"][0]
    assert carol["action"] == "hold" and carol["rule"] == "domain partner.example"
    assert carol["sources"]["encrypt"] == "domain partner.example"
    assert after == _explain(stocked, monkeypatch, "--from", "alice@example.org", "--to", "carol@partner.example")
    shown = root.get("/api/v1/policy").json()
    assert shown["source"] == "the store (version 1)"
    assert shown["domains"]["partner.example"]["encrypt"] == {"value": "require", "source": "domain partner.example"}
    assert shown["domains"]["partner.example"]["sign"] == {"value": "if-key", "source": "global"}
    event = next(e for e in events(stocked.store) if e.action == "policy.save")
    assert event.actor == "web:root (testclient)"
    assert event.detail["changes"] == {"domains.partner.example.encrypt": {"before": None, "after": "require"}}


def test_an_invalid_policy_is_refused_and_nothing_saved(stocked: Console, root: TestClient) -> None:
    token = csrf_of(root)
    answer = root.put("/api/v1/policy", json={"policy": {"encrypt": "sometimes"}}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 400 and answer.json()["code"] == "configuration"
    assert "policy.encrypt" in answer.json()["detail"]
    assert stored_policy.load(stocked.store) is None
    assert not [e for e in events(stocked.store) if e.action == "policy.save"]
    bad_rule = {"rules": [{"name": "x", "min_size": "lots"}]}
    assert root.put("/api/v1/policy", json={"policy": bad_rule}, headers={"X-CSRF-Token": token}).status_code == 400
    assert stored_policy.load(stocked.store) is None


def test_a_stale_version_is_a_conflict_not_an_overwrite(stocked: Console, root: TestClient) -> None:
    token = csrf_of(root)
    first = root.put("/api/v1/policy", json={"policy": {"encrypt": "require"}, "version": 0},
                     headers={"X-CSRF-Token": token})
    assert first.status_code == 200
    second = root.put("/api/v1/policy", json={"policy": {"encrypt": "never"}, "version": 0},
                      headers={"X-CSRF-Token": token})
    assert second.status_code == 400 and "changed meanwhile" in second.json()["detail"]
    loaded = stored_policy.load(stocked.store)
    assert loaded is not None and loaded.table == {"encrypt": "require"}


def test_an_auditor_may_test_but_not_change(stocked: Console, root: TestClient) -> None:
    eve = stocked.login("eve")
    token = csrf_of(eve)
    tested = eve.post("/api/v1/policy/test", json={"from": "alice@example.org", "to": ["bob@partner.example"]},
                      headers={"X-CSRF-Token": token})
    assert tested.status_code == 200 and tested.json()["recipients"][0]["encrypt"]
    refused = eve.put("/api/v1/policy", json={"policy": {}}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 403
    assert stored_policy.load(stocked.store) is None
    read, _ = ApiTokens(stocked.store).create("root", "reader", "read")
    plain = stocked.client()
    bearer = {"Authorization": f"Bearer {read}"}
    assert plain.post("/api/v1/policy/test", json={"from": "", "to": ["x@example.org"]}, headers=bearer
                      ).status_code == 200
    assert plain.put("/api/v1/policy", json={"policy": {}}, headers=bearer).status_code == 403


def test_changing_needs_a_recent_password(stocked: Console, root: TestClient) -> None:
    stocked.clock.advance(minutes=6)
    answer = root.put("/api/v1/policy", json={"policy": {}}, headers={"X-CSRF-Token": csrf_of(root)})
    assert answer.status_code == 403 and "password again" in answer.json()["detail"]
    assert stored_policy.load(stocked.store) is None


def test_the_tester_refuses_a_message_without_sender_field(stocked: Console, root: TestClient) -> None:
    answer = root.post("/api/v1/policy/test", json={"to": ["bob@partner.example"]},
                       headers={"X-CSRF-Token": csrf_of(root)})
    assert answer.status_code == 422


def test_settings_file_fixture_is_used(settings_file: Path, stocked: Console, root: TestClient) -> None:
    assert root.get("/api/v1/policy").json()["accepted_domains"] == ["example.org"]

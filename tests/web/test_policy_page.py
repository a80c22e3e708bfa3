"""The /policy page: settings with their sources, the tester (a GET form), and the edit forms (global settings,
domain and user entries, the rules as TOML), each saved into the store or refused with the reason beside it."""

from __future__ import annotations

import html
import re

from starlette.testclient import TestClient

from mailseal.store import events, stored_policy
from tests.web.conftest import Console, csrf_of
from tests.web.policy_support import settings_file, stocked

__all__ = ["settings_file", "stocked"]

CAROL = {"from": "alice@example.org", "to": "carol@partner.example, bob@partner.example"}


def _row(page: str, recipient: str) -> str:
    found = re.search(rf"<tr class=\"decision-(\w+)\">\s*<td data-label=\"Recipient\"><code>{re.escape(recipient)}</code>.*?</tr>", page, re.S)
    assert found is not None, page
    return found.group(0)


def test_the_page_shows_settings_with_their_sources(stocked: Console, root: TestClient) -> None:
    page = root.get("/policy")
    assert page.status_code == 200
    text = page.text
    assert "In effect: <strong>the settings file</strong>" in text
    assert "<caption>Domain partner.example</caption>" in text
    domain = text.split("<caption>Domain partner.example</caption>")[1].split("</table>")[0]
    assert re.search(r"on_missing_certificate</code></th>\s*<td>hold</td>\s*<td[^>]*>domain partner.example", domain)
    assert re.search(r"<code>encrypt</code></th>\s*<td>if-possible</td>\s*<td[^>]*>global", domain)
    assert "<strong>secure-subject</strong>" in text and "[policy.smime]" in text
    assert 'id="form-global"' in text and 'id="form-rules"' in text


def test_the_tester_shows_each_recipients_decision(stocked: Console, root: TestClient) -> None:
    page = root.get("/policy", params={**CAROL, "subject": "hello"}).text
    assert 'id="test-result"' in page
    assert "✓ delivered" in _row(page, "carol@partner.example")
    bob = _row(page, "bob@partner.example")
    assert "sign: yes, as alice@example.org, encrypt: yes" in html.unescape(bob)
    bad = root.get("/policy", params={"from": "alice@example.org", "to": ""})
    assert bad.status_code == 400 and 'id="test-error"' in bad.text and "at least one recipient" in bad.text


def test_adding_a_domain_entry_changes_the_testers_decision(stocked: Console, root: TestClient) -> None:
    before = root.get("/policy", params=CAROL).text
    assert "✓ delivered" in _row(before, "carol@partner.example")
    form = {"csrf_token": csrf_of(root), "version": "0", "kind": "domain", "name": "partner.example",
            "encrypt": "require", "on_missing_certificate": "hold"}
    saved = root.post("/policy/entries", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/policy?saved=1#edit"
    notice = root.get("/policy?saved=1").text
    assert 'id="policy-saved"' in notice and "systemctl reload" in notice
    assert "In effect: <strong>the store (version 1)</strong>" in notice
    after = root.get("/policy", params=CAROL).text
    carol = _row(after, "carol@partner.example")
    assert "! held" in carol and "domain partner.example" in carol
    assert "encryption required but no certificate for carol@partner.example" in carol
    assert any(e.action == "policy.save" and e.actor == "web:root (testclient)" for e in events(stocked.store))


def test_an_invalid_change_is_refused_beside_its_form(stocked: Console, root: TestClient) -> None:
    token = csrf_of(root)
    answer = root.post("/policy/entries", data={"csrf_token": token, "version": "0", "kind": "user",
                                                "name": "not-an-address", "sign": "always"})
    assert answer.status_code == 400 and 'id="entry-error"' in answer.text
    assert "is not an e-mail address" in html.unescape(answer.text)
    rules = root.post("/policy/rules", data={"csrf_token": token, "version": "0", "rules": "[[rules]]\nname = 1\n"})
    assert rules.status_code == 400 and 'id="rules-error"' in rules.text
    toml = root.post("/policy/rules", data={"csrf_token": token, "version": "0", "rules": "[[rules]\n"})
    assert toml.status_code == 400 and "not valid TOML" in toml.text
    assert stored_policy.load(stocked.store) is None
    assert not [e for e in events(stocked.store) if e.action == "policy.save"]


def test_global_settings_rules_and_removal(stocked: Console, root: TestClient) -> None:
    token = csrf_of(root)
    glob = root.post("/policy/global", data={"csrf_token": token, "version": "0", "sign": "always",
                                             "encrypt": "", "strip_signatures": "true"})
    assert glob.status_code == 303
    loaded = stored_policy.load(stocked.store)
    assert loaded is not None
    assert loaded.table["sign"] == "always" and loaded.table["strip_signatures"] is True
    assert "encrypt" not in loaded.table  # "(inherit)": not set, the default applies
    assert loaded.table["domains"] == {"partner.example": {"on_missing_certificate": "hold"}}
    rules = root.post("/policy/rules", data={"csrf_token": token, "version": "1",
                                             "rules": '[[rules]]\nname = "no-bank"\nto = ["bank.example"]\n'
                                                      'action = "reject"\n'})
    assert rules.status_code == 303
    page = root.get("/policy").text
    assert "<strong>no-bank</strong>" in page and "secure-subject" not in page.split('id="edit"')[0]
    removed = root.post("/policy/entries/remove", data={"csrf_token": token, "version": "2", "kind": "domain",
                                                        "name": "partner.example"})
    assert removed.status_code == 303
    final = stored_policy.load(stocked.store)
    assert final is not None and final.version == 3 and "domains" not in final.table
    stale = root.post("/policy/global", data={"csrf_token": token, "version": "1", "sign": "never"})
    assert stale.status_code == 400 and "changed meanwhile" in stale.text


def test_an_auditor_sees_and_tests_but_cannot_edit(stocked: Console, root: TestClient) -> None:
    eve = stocked.login("eve")
    page = eve.get("/policy", params=CAROL)
    assert page.status_code == 200 and 'id="test-result"' in page.text and 'id="edit"' not in page.text
    token = csrf_of(eve)
    answer = eve.post("/policy/entries", data={"csrf_token": token, "version": "0", "kind": "domain",
                                               "name": "partner.example", "encrypt": "require"})
    assert answer.status_code == 403
    assert stored_policy.load(stocked.store) is None


def test_an_edit_asks_for_the_password_again(stocked: Console, root: TestClient) -> None:
    stocked.clock.advance(minutes=6)
    token = csrf_of(root)
    answer = root.post("/policy/global", data={"csrf_token": token, "version": "0", "sign": "never"})
    assert answer.status_code == 303 and answer.headers["location"] == "/reauth?next=/policy"
    assert stored_policy.load(stocked.store) is None

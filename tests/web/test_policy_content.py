"""Content rules in the console: the tester's POST form and POST /api/v1/policy/test take a text sample; the
decision names the rule, the page and the answer never echo the matched number outside the form field."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.web.conftest import Console, csrf_of
from tests.web.policy_support import settings_file, stocked

__all__ = ["settings_file", "stocked"]

CARDS = "4111 1111 1111 1111 and 5555555555554444"
RULES = """[[rules]]
name = "no-cards"
content_detectors = ["card-number"]
content_threshold = 2
action = "reject"
"""


def _with_rule(root: TestClient) -> None:
    saved = root.post("/policy/rules", data={"csrf_token": csrf_of(root), "version": "0", "rules": RULES})
    assert saved.status_code == 303, saved.text


def test_the_testers_post_form_takes_a_text_sample(stocked: Console, root: TestClient) -> None:
    _with_rule(root)
    form = {"csrf_token": csrf_of(root), "from": "alice@example.org", "to": "carol@partner.example", "text": CARDS}
    page = root.post("/policy/test", data=form)
    assert page.status_code == 200 and 'id="test-result"' in page.text
    row = page.text.split('id="test-result"')[1]
    assert "✗ refused" in row and "rule no-cards: 2 content matches (threshold 2)" in row
    assert "4111" not in row  # only the form field holds the sample
    assert '<form method="post" action="/policy/test#tester"' in page.text
    without = root.post("/policy/test", data={**form, "text": "no numbers"})
    assert "✓ delivered" in without.text.split('id="test-result"')[1]
    refused = root.post("/policy/test", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert refused.status_code == 403  # a POST like any other: the CSRF token is required


def test_the_api_tester_takes_a_text_sample(stocked: Console, root: TestClient) -> None:
    _with_rule(root)
    token = csrf_of(root)
    message = {"from": "alice@example.org", "to": ["carol@partner.example"]}
    plain = root.post("/api/v1/policy/test", json=message, headers={"X-CSRF-Token": token}).json()
    assert plain["recipients"][0]["action"] != "reject"
    assert "content rules not evaluated: the message text was not read" in plain["notes"]
    sampled = root.post("/api/v1/policy/test", json={**message, "text": CARDS}, headers={"X-CSRF-Token": token})
    assert sampled.status_code == 200, sampled.text
    [rcpt] = sampled.json()["recipients"]
    assert rcpt["action"] == "reject" and rcpt["rule"] == "rule no-cards" and "4111" not in sampled.text

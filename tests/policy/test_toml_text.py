"""The [policy] table written back as TOML (`mailseal policy export`, the console's rules text) reads back equal."""

from __future__ import annotations

import tomllib

from mailseal.policy.toml_text import dumps, dumps_rules
from tests.policy.test_docs import POLICY_MD, _toml_blocks


def test_the_complete_example_round_trips() -> None:
    policy = tomllib.loads(_toml_blocks(POLICY_MD)[0])["policy"]
    assert {"smime", "domains", "users", "rules"} <= set(policy)
    written = dumps(policy)
    assert '[policy.domains."partner.example"]' in written
    assert 'header = { name = "X-Secure", value = "yes" }' in written
    assert tomllib.loads(written)["policy"] == policy
    assert tomllib.loads(dumps_rules(policy["rules"]))["rules"] == policy["rules"]


def test_quotes_and_escapes_survive() -> None:
    policy = {"subject_tag_signed": 'say "hi" \\ \u00e9\n', "users": {"o'neil@example.org": {"sign": "always"}}}
    assert tomllib.loads(dumps(policy))["policy"] == policy
    assert dumps_rules([]) == ""

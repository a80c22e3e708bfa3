"""[[policy.rules]]: order and first match, patterns, subject/header/size triggers, actions, trigger removal."""

from __future__ import annotations

import pytest

from mailseal.policy import Action, AddressPattern, Envelope, Policy, RecipientDecision, StaticFacts

from .support import decide, everything, message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"


def test_first_matching_rule_wins() -> None:
    pol = policy("""
[[policy.rules]]
name = "first"
to = ["*@partner.example"]
encrypt = "never"
[[policy.rules]]
name = "second"
to = ["bob@partner.example"]
encrypt = "require"
""")
    r = decide(pol, ALICE, BOB, facts=everything(BOB))[BOB]
    assert r.rule == "rule first" and not r.encrypt and r.sources["encrypt"] == "rule first"


def test_a_later_rule_applies_when_the_earlier_does_not_match() -> None:
    pol = policy("""
[[policy.rules]]
name = "first"
to = ["*@other.example"]
encrypt = "never"
[[policy.rules]]
name = "second"
to = ["bob@partner.example"]
encrypt = "require"
""")
    r = decide(pol, ALICE, BOB)[BOB]
    assert r.rule == "rule second" and r.refuse is not None


def test_rule_overrides_user_entry() -> None:
    pol = policy("""
[policy.users."bob@partner.example"]
encrypt = "never"
on_missing_certificate = "hold"
[[policy.rules]]
name = "secure"
subject_contains = "[secure]"
encrypt = "require"
""")
    r = policy_decide_subject(pol, "Re: [SECURE] numbers")
    assert r.sources["encrypt"] == "rule secure"
    assert r.sources["on_missing_certificate"] == "user bob@partner.example"  # not set by the rule: inherited
    assert r.hold is not None


def policy_decide_subject(pol: Policy, subject: str) -> RecipientDecision:
    return pol.decide(Envelope(ALICE, (BOB,)), message(sender=ALICE, to=[BOB], subject=subject), StaticFacts())[BOB]


def test_rules_match_per_recipient() -> None:
    pol = policy('[[policy.rules]]\nname = "partners"\nto = ["*.partner.example", "partner.example"]\n'
                 'encrypt = "require"')
    d = decide(pol, ALICE, BOB, "x@eu.partner.example", "carol@other.example")
    assert d[BOB].rule == "rule partners" and d["x@eu.partner.example"].rule == "rule partners"
    assert d["carol@other.example"].rule != "rule partners"


@pytest.mark.parametrize(("pattern", "address", "matches"), [
    ("alice@example.org", "ALICE@Example.org", True),
    ("alice@example.org", "alice2@example.org", False),
    ("*@example.org", "bob@example.org", True),
    ("*@example.org", "bob@sub.example.org", False),
    ("example.org", "bob@example.org", True),
    ("@example.org", "bob@example.org", True),
    ("*.example.org", "bob@sub.example.org", True),
    ("*.example.org", "bob@a.b.example.org", True),
    ("*.example.org", "bob@example.org", False),
    ("sales-*@example.org", "sales-emea@example.org", True),
    ("sales-*@example.org", "support@example.org", False),
    ("*", "anyone@anywhere.example", True),
    ("<>", "", True),
    ("<>", "bob@example.org", False),
    ("alice@example.org", "<alice@example.org>", True),
    ("a.b@example.org", "axb@example.org", False),  # dots are literal, not regex wildcards
])
def test_address_patterns(pattern: str, address: str, matches: bool) -> None:
    assert AddressPattern.parse(pattern, "t").matches(address) is matches


def test_from_matches_the_envelope_sender() -> None:
    pol = policy('[[policy.rules]]\nname = "board"\nfrom = ["ceo@example.org", "cfo@example.org"]\n'
                 'encrypt = "require"')
    assert decide(pol, "CFO@example.org", BOB)[BOB].rule == "rule board"
    assert decide(pol, ALICE, BOB)[BOB].rule != "rule board"


def test_direction_condition() -> None:
    pol = policy('[[policy.rules]]\nname = "in"\ndirection = "inbound"\nstrip_signatures = true')
    assert decide(pol, BOB, ALICE)[ALICE].rule == "rule in"
    assert decide(pol, ALICE, BOB)[BOB].rule != "rule in"
    assert decide(pol, ALICE, "carol@example.org")["carol@example.org"].rule != "rule in"


def test_internal_direction_condition() -> None:
    pol = policy('[[policy.rules]]\nname = "internal"\ndirection = "internal"\nencrypt = "never"')
    d = decide(pol, ALICE, "carol@example.org", BOB, facts=everything("carol@example.org", BOB))
    assert not d["carol@example.org"].encrypt and d[BOB].encrypt


@pytest.mark.parametrize(("subject", "matches"), [
    ("[secure] quarterly numbers", True),
    ("Re: [SECURE] quarterly", True),
    ("[Secure]", True),
    ("secure", False),
    ("[ secure ]", False),
])
def test_subject_trigger_ignores_case(subject: str, matches: bool) -> None:
    pol = policy('[[policy.rules]]\nname = "s"\nsubject_contains = "[secure]"\nencrypt = "require"')
    assert (policy_decide_subject(pol, subject).rule == "rule s") is matches


def test_remove_trigger_reports_the_rewritten_subject() -> None:
    pol = policy('[[policy.rules]]\nname = "s"\nsubject_contains = "[secure]"\nremove_trigger = true\n'
                 'encrypt = "if-possible"')
    r = policy_decide_subject(pol, "Re: [SECURE] quarterly  numbers [secure]")
    assert r.subject_rewrite == "Re: quarterly numbers"


def test_without_remove_trigger_the_subject_is_left_alone() -> None:
    pol = policy('[[policy.rules]]\nname = "s"\nsubject_contains = "[secure]"\nencrypt = "if-possible"')
    assert policy_decide_subject(pol, "[secure] x").subject_rewrite is None


@pytest.mark.parametrize(("header", "headers", "matches"), [
    ('{name = "X-Secure", value = "yes"}', [("X-Secure", "yes")], True),
    ('{name = "X-Secure", value = "yes"}', [("x-secure", " YES ")], True),
    ('{name = "X-Secure", value = "yes"}', [("X-Secure", "no")], False),
    ('{name = "X-Secure", value = "yes"}', [("X-Secure", "no"), ("X-SECURE", "Yes")], True),
    ('{name = "X-Secure"}', [("X-Secure", "anything")], True),
    ('{name = "X-Secure"}', [("X-Other", "yes")], False),
    ('{name = "X-Secure", value = ""}', [("X-Secure", "")], True),
])
def test_header_condition(header: str, headers: list[tuple[str, str]], matches: bool) -> None:
    pol = policy(f'[[policy.rules]]\nname = "h"\nheader = {header}\nencrypt = "require"')
    msg = message(sender=ALICE, to=[BOB], headers=headers)
    assert (pol.decide(Envelope(ALICE, (BOB,)), msg, StaticFacts())[BOB].rule == "rule h") is matches


@pytest.mark.parametrize(("size", "matches"), [(1024 * 1024 - 1, False), (1024 * 1024, True), (5 * 1024**2, True),
                                               (5 * 1024**2 + 1, False)])
def test_size_bounds_are_inclusive(size: int, matches: bool) -> None:
    pol = policy('[[policy.rules]]\nname = "mid"\nmin_size = "1M"\nmax_size = 5242880\nencrypt = "never"')
    msg = message(sender=ALICE, to=[BOB], size=size)
    assert (pol.decide(Envelope(ALICE, (BOB,)), msg, StaticFacts())[BOB].rule == "rule mid") is matches


def test_all_conditions_must_hold() -> None:
    pol = policy("""
[[policy.rules]]
name = "all"
direction = "outbound"
from = ["*@example.org"]
to = ["*@partner.example"]
subject_contains = "contract"
encrypt = "require"
""")
    assert policy_decide_subject(pol, "the contract").rule == "rule all"
    assert policy_decide_subject(pol, "the lunch").rule != "rule all"


def test_rule_action_reject_with_reason() -> None:
    pol = policy('[[policy.rules]]\nname = "no-huge"\nmin_size = "20M"\naction = "reject"\n'
                 'reason = "messages over 20 MB are not accepted"')
    msg = message(sender=ALICE, to=[BOB], size=30 * 1024**2)
    r = pol.decide(Envelope(ALICE, (BOB,)), msg, everything(ALICE, BOB))[BOB]
    assert r.action is Action.REJECT and r.refuse == "messages over 20 MB are not accepted"
    assert not r.sign and not r.encrypt and r.rule == "rule no-huge"


def test_rule_action_hold_without_reason() -> None:
    pol = policy('[[policy.rules]]\nname = "review"\nto = ["*@competitor.example"]\naction = "hold"')
    r = decide(pol, ALICE, "x@competitor.example")["x@competitor.example"]
    assert r.action is Action.HOLD and r.hold == "held by rule review"


def test_null_sender_pattern() -> None:
    pol = policy('[[policy.rules]]\nname = "bounces"\nfrom = ["<>"]\nencrypt = "never"')
    msg = message(sender="postmaster@example.org", to=[BOB])
    r = pol.decide(Envelope("", (BOB,)), msg, everything(BOB))[BOB]
    assert r.rule == "rule bounces" and not r.encrypt

"""Bcc detection and Decision.groups(): one outgoing message per identical treatment, Bcc forked when encrypted."""

from __future__ import annotations

import json

from mailseal.policy import Envelope, StaticFacts

from .support import decide, everything, message, policy

ALICE = "alice@example.org"


def test_bcc_is_a_recipient_missing_from_to_and_cc() -> None:
    d = decide(policy(), ALICE, "a@x.example", "b@x.example", bcc=["b@x.example"])
    assert not d["a@x.example"].bcc and d["b@x.example"].bcc


def test_bcc_detection_ignores_case() -> None:
    msg = message(sender=ALICE, to=["Bob@X.Example"])
    d = policy().decide(Envelope(ALICE, ("bob@x.example",)), msg, StaticFacts())
    assert not d["bob@x.example"].bcc


def test_same_treatment_shares_one_group() -> None:
    facts = everything(ALICE, "a@x.example", "b@y.example")
    d = decide(policy(), ALICE, "a@x.example", "b@y.example", facts=facts)
    groups = d.groups()
    assert [g.recipients for g in groups] == [("a@x.example", "b@y.example")]
    assert groups[0].sign and groups[0].encrypt and groups[0].signer == ALICE
    assert list(groups[0]) == list(d.recipients) and len(groups[0]) == 2


def test_mixed_recipients_split_by_treatment() -> None:
    facts = everything(ALICE, "a@x.example", "c@x.example")
    d = decide(policy(), ALICE, "a@x.example", "b@x.example", "c@x.example", "d@example.org", facts=facts)
    assert [g.recipients for g in d.groups()] == [("a@x.example", "c@x.example"), ("b@x.example", "d@example.org")]
    assert [(g.sign, g.encrypt) for g in d.groups()] == [(True, True), (True, False)]


def test_rule_rewrite_splits_groups() -> None:
    pol = policy('[[policy.rules]]\nname = "s"\nto = ["a@x.example"]\nsubject_contains = "[secure]"\n'
                 'remove_trigger = true')
    msg = message(sender=ALICE, to=["a@x.example", "b@x.example"], subject="[secure] hi")
    d = pol.decide(Envelope(ALICE, ("a@x.example", "b@x.example")), msg, StaticFacts())
    assert [(g.recipients, g.subject_rewrite) for g in d.groups()] == [(("a@x.example",), "hi"),
                                                                     (("b@x.example",), None)]


def test_encrypted_bcc_recipients_each_get_their_own_message() -> None:
    rcpts = ("to@x.example", "bcc1@x.example", "cc@x.example", "bcc2@x.example")
    d = decide(policy(), ALICE, *rcpts, facts=everything(*rcpts), bcc=["bcc1@x.example", "bcc2@x.example"])
    groups = d.groups()
    assert [g.recipients for g in groups] == [("to@x.example", "cc@x.example"), ("bcc1@x.example",),
                                              ("bcc2@x.example",)]
    assert [g.bcc for g in groups] == [False, True, True]


def test_fork_bcc_off_keeps_bcc_with_the_others() -> None:
    rcpts = ("to@x.example", "bcc@x.example")
    d = decide(policy("[policy.smime]\nfork_bcc = false"), ALICE, *rcpts, facts=everything(*rcpts),
               bcc=["bcc@x.example"])
    assert [g.recipients for g in d.groups()] == [rcpts]


def test_unencrypted_bcc_recipients_are_not_forked() -> None:
    # Nothing in an unencrypted message names its envelope recipients, so forking would only cost messages.
    d = decide(policy(), ALICE, "to@x.example", "bcc@x.example", bcc=["bcc@x.example"])
    assert [g.recipients for g in d.groups()] == [("to@x.example", "bcc@x.example")]


def test_refused_and_held_are_not_in_groups() -> None:
    pol = policy('[policy]\nencrypt = "require"\n[policy.domains."hold.example"]\non_missing_certificate = "hold"')
    d = decide(pol, ALICE, "ok@x.example", "no@x.example", "later@hold.example", facts=everything("ok@x.example"))
    assert [g.recipients for g in d.groups()] == [("ok@x.example",)]
    assert [r.recipient for r in d.refused()] == ["no@x.example"]
    assert [r.recipient for r in d.held()] == ["later@hold.example"]
    assert [r.recipient for r in d.accepted()] == ["ok@x.example"]


def test_to_dict_is_json() -> None:
    d = decide(policy(), ALICE, "a@x.example", "b@example.org", facts=everything(ALICE, "a@x.example"))
    data = json.loads(json.dumps(d.to_dict()))
    assert data["sender"] == ALICE
    first = data["recipients"][0]
    assert first["direction"] == "outbound" and first["action"] == "deliver" and first["encrypt"] is True
    assert first["sources"]["encrypt"] == "default" and first["settings"]["encrypt"] == "if-possible"
    assert [g["recipients"] for g in data["groups"]] == [["a@x.example"], ["b@example.org"]]
    assert data["refused"] == [] and data["held"] == []


def test_empty_envelope() -> None:
    d = policy().decide(Envelope(ALICE, ()), message(sender=ALICE), StaticFacts())
    assert d.recipients == () and d.groups() == ()

"""Settings inherit global -> domain -> user; sign follows the sender, everything else the recipient."""

from __future__ import annotations

from mailseal.policy import StaticFacts

from .support import decide, everything, message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"

LAYERS = """
[policy]
encrypt = "if-possible"
sign = "if-key"

[policy.domains."partner.example"]
encrypt = "require"
on_missing_certificate = "hold"

[policy.domains."*.partner.example"]
encrypt = "never"

[policy.users."ceo@partner.example"]
encrypt = "if-possible"

[policy.domains."example.org"]
sign = "always"
decrypt_inbound = false

[policy.users."alice@example.org"]
sign = "never"
decrypt_inbound = true
"""


def test_global_applies_where_nothing_else_does() -> None:
    r = decide(policy(LAYERS), "carol@example.org", "dave@elsewhere.example")["dave@elsewhere.example"]
    assert r.sources["encrypt"] == "global" and r.settings["encrypt"] == "if-possible"
    assert r.sources["on_missing_certificate"] == "default"


def test_recipient_domain_decides_encryption() -> None:
    r = decide(policy(LAYERS), "carol@example.org", BOB, facts=everything("carol@example.org"))[BOB]
    assert r.settings["encrypt"] == "require" and r.sources["encrypt"] == "domain partner.example"
    assert r.sources["on_missing_certificate"] == "domain partner.example"
    assert r.hold is not None and r.rule == "domain partner.example"


def test_domain_names_ignore_case() -> None:
    r = decide(policy(LAYERS), "carol@example.org", "Bob@PARTNER.Example")["bob@partner.example"]
    assert r.sources["encrypt"] == "domain partner.example"


def test_subdomain_wildcard_entry() -> None:
    r = decide(policy(LAYERS), "carol@example.org", "x@eu.partner.example")["x@eu.partner.example"]
    assert r.sources["encrypt"] == "domain *.partner.example" and not r.encrypt


def test_recipient_user_beats_recipient_domain() -> None:
    r = decide(policy(LAYERS), "carol@example.org", "ceo@partner.example")["ceo@partner.example"]
    assert r.sources["encrypt"] == "user ceo@partner.example" and r.hold is None
    # keys the user entry does not set still come from the domain
    assert r.sources["on_missing_certificate"] == "domain partner.example"


def test_sender_domain_decides_signing() -> None:
    r = decide(policy(LAYERS), "carol@example.org", "dave@elsewhere.example")["dave@elsewhere.example"]
    assert r.sources["sign"] == "domain example.org"
    assert r.refuse == "signing required but no key for carol@example.org"
    assert r.rule == "domain example.org"  # the setting that demanded the impossible names the decision


def test_sender_user_beats_sender_domain() -> None:
    r = decide(policy(LAYERS), ALICE, "dave@elsewhere.example", facts=everything(ALICE))["dave@elsewhere.example"]
    assert r.sources["sign"] == "user alice@example.org" and not r.sign


def test_recipient_entries_do_not_decide_signing() -> None:
    pol = policy('[policy.domains."partner.example"]\nsign = "never"')
    r = decide(pol, ALICE, BOB, facts=everything(ALICE))[BOB]
    assert r.sign and r.sources["sign"] == "default"


def test_sender_entries_do_not_decide_encryption() -> None:
    pol = policy('[policy.users."alice@example.org"]\nencrypt = "never"')
    r = decide(pol, ALICE, BOB, facts=everything(BOB))[BOB]
    assert r.encrypt and r.sources["encrypt"] == "default"


def test_inbound_settings_follow_the_internal_recipient() -> None:
    pol = policy(LAYERS)
    facts = StaticFacts(decryption_keys=[ALICE, "carol@example.org"])
    msg = message(sender=BOB, to=[ALICE, "carol@example.org"], encrypted=True)
    d = decide(pol, BOB, ALICE, "carol@example.org", facts=facts, msg=msg)
    assert d["carol@example.org"].sources["decrypt_inbound"] == "domain example.org"
    assert not d["carol@example.org"].decrypt
    assert d[ALICE].sources["decrypt_inbound"] == "user alice@example.org" and d[ALICE].decrypt


def test_user_names_ignore_case() -> None:
    pol = policy('[policy.users."Bob@Partner.Example"]\nencrypt = "never"')
    r = decide(pol, ALICE, BOB, facts=everything(BOB))[BOB]
    assert not r.encrypt and r.sources["encrypt"] == "user bob@partner.example"

"""Signing modes and the no-signing-oracle rule: only the sender's own mail, From = envelope sender, with a key."""

from __future__ import annotations

from mailseal.policy import Action, Envelope, StaticFacts

from .support import decide, message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"
KEY = StaticFacts(signing_keys=[ALICE])


def test_if_key_signs_when_the_sender_has_a_key() -> None:
    r = decide(policy(), ALICE, BOB, facts=KEY)[BOB]
    assert r.sign and r.signer == ALICE and r.action is Action.DELIVER


def test_if_key_without_key_sends_unsigned_with_a_note() -> None:
    r = decide(policy(), ALICE, BOB)[BOB]
    assert not r.sign and r.signer is None and r.refuse is None
    assert "not signed: no key for alice@example.org" in r.notes


def test_never_does_not_sign_nor_ask_for_a_key() -> None:
    class NoCalls(StaticFacts):
        def has_signing_key(self, address: str) -> bool:
            raise AssertionError("the key store must not be asked")

    r = decide(policy('[policy]\nsign = "never"'), ALICE, BOB, facts=NoCalls())[BOB]
    assert not r.sign and r.refuse is None


def test_always_without_key_refuses() -> None:
    r = decide(policy('[policy]\nsign = "always"'), ALICE, BOB)[BOB]
    assert not r.sign and r.action is Action.REJECT
    assert r.refuse == "signing required but no key for alice@example.org"


def test_always_with_key_signs() -> None:
    assert decide(policy('[policy]\nsign = "always"'), ALICE, BOB, facts=KEY)[BOB].sign


def test_sender_case_does_not_matter() -> None:
    pol = policy()
    d = pol.decide(Envelope("Alice@Example.ORG", (BOB,)), message(froms=["alice@EXAMPLE.org"], to=[BOB]), KEY)
    assert d[BOB].sign and d[BOB].signer == ALICE


def test_no_oracle_envelope_sender_differs_from_from() -> None:
    pol = policy()
    msg = message(froms=["ceo@example.org"], to=[BOB])
    both_have_keys = StaticFacts(signing_keys=[ALICE, "ceo@example.org"])
    r = pol.decide(Envelope(ALICE, (BOB,)), msg, both_have_keys)[BOB]
    assert not r.sign
    assert "not signed: the envelope sender alice@example.org differs from the From address ceo@example.org" in r.notes


def test_no_oracle_with_always_refuses() -> None:
    pol = policy('[policy]\nsign = "always"')
    msg = message(froms=["ceo@example.org"], to=[BOB])
    r = pol.decide(Envelope(ALICE, (BOB,)), msg, KEY)[BOB]
    assert r.refuse is not None and r.refuse.startswith("signing required but the envelope sender")


def test_no_oracle_from_external_address() -> None:
    pol = policy()
    msg = message(froms=["someone@partner.example"], to=[BOB])
    assert not pol.decide(Envelope(ALICE, (BOB,)), msg, KEY)[BOB].sign


def test_no_oracle_external_envelope_sender_with_internal_from() -> None:
    # Inbound mail that claims to be from an internal user is never signed (it is not outbound either).
    pol = policy('[policy]\nsign = "always"')
    d = pol.decide(Envelope(BOB, (ALICE,)), message(froms=[ALICE], to=[ALICE]), KEY)
    assert not d[ALICE].sign and d[ALICE].refuse is None


def test_no_oracle_several_from_addresses() -> None:
    pol = policy()
    msg = message(froms=[ALICE, "carol@example.org"], to=[BOB])
    r = pol.decide(Envelope(ALICE, (BOB,)), msg, KEY)[BOB]
    assert not r.sign and any("2 addresses" in n for n in r.notes)


def test_no_oracle_no_from_address() -> None:
    r = policy().decide(Envelope(ALICE, (BOB,)), message(froms=[], to=[BOB]), KEY)[BOB]
    assert not r.sign and any("no From address" in n for n in r.notes)


def test_null_sender_is_never_signed_and_never_refused_for_it() -> None:
    pol = policy('[policy]\nsign = "always"')
    r = pol.decide(Envelope("", (BOB,)), message(sender="postmaster@example.org", to=[BOB]),
                   StaticFacts(signing_keys=["postmaster@example.org"]))[BOB]
    assert not r.sign and r.refuse is None
    assert any("null sender" in n for n in r.notes)


def test_already_signed_message_is_not_signed_again() -> None:
    pol = policy('[policy]\nsign = "always"')
    r = pol.decide(Envelope(ALICE, (BOB,)), message(sender=ALICE, to=[BOB], signed=True), StaticFacts())[BOB]
    assert not r.sign and r.refuse is None and any("already signed" in n for n in r.notes)


def test_key_store_is_asked_once_per_message() -> None:
    calls: list[str] = []

    class Counting(StaticFacts):
        def has_signing_key(self, address: str) -> bool:
            calls.append(address)
            return True

    decide(policy(), ALICE, BOB, "carol@partner.example", "dave@example.org", facts=Counting())
    assert calls == [ALICE]


def test_internal_mail_is_signed_too() -> None:
    assert decide(policy(), ALICE, "carol@example.org", facts=KEY)["carol@example.org"].sign

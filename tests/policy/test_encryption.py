"""Encryption modes for outbound and internal recipients, refuse versus hold."""

from __future__ import annotations

import pytest

from mailseal.policy import Action, Envelope, StaticFacts

from .support import decide, message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"
CERT = StaticFacts(certificates=[BOB], signing_keys=[ALICE])


def test_if_possible_encrypts_with_a_certificate() -> None:
    r = decide(policy(), ALICE, BOB, facts=CERT)[BOB]
    assert r.encrypt and r.sign


def test_if_possible_without_certificate_sends_in_clear() -> None:
    r = decide(policy(), ALICE, BOB)[BOB]
    assert not r.encrypt and r.action is Action.DELIVER
    assert "not encrypted: no certificate for bob@partner.example" in r.notes


def test_never_does_not_encrypt() -> None:
    assert not decide(policy('[policy]\nencrypt = "never"'), ALICE, BOB, facts=CERT)[BOB].encrypt


def test_require_with_certificate_encrypts() -> None:
    assert decide(policy('[policy]\nencrypt = "require"'), ALICE, BOB, facts=CERT)[BOB].encrypt


def test_require_without_certificate_rejects_by_default() -> None:
    d = decide(policy('[policy]\nencrypt = "require"'), ALICE, BOB)
    r = d[BOB]
    assert r.action is Action.REJECT and r.hold is None
    assert r.refuse == "encryption required but no certificate for bob@partner.example"
    assert d.refused() == (r,) and d.held() == () and d.groups() == ()


def test_require_without_certificate_holds_when_asked() -> None:
    d = decide(policy('[policy]\nencrypt = "require"\non_missing_certificate = "hold"'), ALICE, BOB)
    r = d[BOB]
    assert r.action is Action.HOLD and r.refuse is None
    assert r.hold == "encryption required but no certificate for bob@partner.example"
    assert d.held() == (r,) and d.refused() == () and d.groups() == ()


def test_refused_recipient_does_not_stop_the_others() -> None:
    d = decide(policy('[policy]\nencrypt = "require"'), ALICE, BOB, "carol@partner.example", facts=CERT)
    assert [r.recipient for r in d.refused()] == ["carol@partner.example"]
    assert [g.recipients for g in d.groups()] == [(BOB,)]


def test_internal_recipients_are_encrypted_for() -> None:
    facts = StaticFacts(certificates=["carol@example.org"])
    assert decide(policy(), ALICE, "carol@example.org", facts=facts)["carol@example.org"].encrypt


def test_inbound_recipients_are_never_encrypted_for() -> None:
    facts = StaticFacts(certificates=[ALICE])
    r = decide(policy('[policy]\nencrypt = "require"'), BOB, ALICE, facts=facts)[ALICE]
    assert not r.encrypt and r.refuse is None


@pytest.mark.parametrize("mode", ["require", "if-possible"])
def test_already_encrypted_message_passes_unchanged(mode: str) -> None:
    pol = policy(f'[policy]\nencrypt = "{mode}"\nsign = "always"')
    r = pol.decide(Envelope(ALICE, (BOB,)), message(sender=ALICE, to=[BOB], encrypted=True), StaticFacts())[BOB]
    assert not r.encrypt and not r.sign and r.action is Action.DELIVER
    assert any("already encrypted" in n for n in r.notes)


def test_certificate_lookup_uses_the_recipient() -> None:
    asked: list[str] = []

    class Recording(StaticFacts):
        def has_certificate(self, address: str) -> bool:
            asked.append(address)
            return False

    decide(policy(), ALICE, BOB, "carol@example.org", facts=Recording())
    assert asked == [BOB, "carol@example.org"]

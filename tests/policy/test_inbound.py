"""Inbound recipients: decrypt with a key, verify, strip signatures, subject tags."""

from __future__ import annotations

from mailseal.policy import Envelope, RecipientDecision, StaticFacts, SubjectTags

from .support import message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"


def inbound(toml: str = "", *, signed: bool = False, encrypted: bool = False,
            facts: StaticFacts | None = None) -> RecipientDecision:
    msg = message(sender=BOB, to=[ALICE], signed=signed, encrypted=encrypted)
    return policy(toml).decide(Envelope(BOB, (ALICE,)), msg, facts or StaticFacts())[ALICE]


def test_encrypted_with_key_is_decrypted_and_verified() -> None:
    r = inbound(encrypted=True, facts=StaticFacts(decryption_keys=[ALICE]))
    assert r.decrypt and r.verify and not r.sign and not r.encrypt


def test_encrypted_without_key_is_delivered_encrypted() -> None:
    r = inbound(encrypted=True)
    assert not r.decrypt and not r.verify and r.refuse is None
    assert "no decryption key for alice@example.org: delivered encrypted" in r.notes


def test_decrypt_inbound_false() -> None:
    r = inbound("[policy]\ndecrypt_inbound = false", encrypted=True, facts=StaticFacts(decryption_keys=[ALICE]))
    assert not r.decrypt


def test_plain_message_is_neither_decrypted_nor_verified() -> None:
    r = inbound(facts=StaticFacts(decryption_keys=[ALICE]))
    assert not (r.decrypt or r.verify or r.strip_signature)


def test_signed_is_verified() -> None:
    assert inbound(signed=True).verify


def test_verify_inbound_false() -> None:
    assert not inbound("[policy]\nverify_inbound = false", signed=True).verify


def test_strip_signatures_after_verification() -> None:
    r = inbound("[policy]\nstrip_signatures = true", signed=True)
    assert r.verify and r.strip_signature


def test_strip_needs_verification() -> None:
    r = inbound("[policy]\nstrip_signatures = true\nverify_inbound = false", signed=True)
    assert not r.strip_signature and any("needs verify_inbound" in n for n in r.notes)


def test_subject_tags() -> None:
    toml = ('[policy]\nsubject_tag_encrypted = "[encrypted]"\nsubject_tag_signed = "[signed]"\n'
            'subject_tag_failed = "[NOT VERIFIED]"')
    r = inbound(toml, signed=True)
    assert r.subject_tag == "[signed]"
    assert r.subject_tags == SubjectTags("[encrypted]", "[signed]", "[NOT VERIFIED]")
    assert r.subject_tags.for_outcome(encrypted=True, signed=True, failed=False) == "[encrypted] [signed]"
    assert r.subject_tags.for_outcome(encrypted=True, signed=True, failed=True) == "[NOT VERIFIED]"
    assert r.subject_tags.for_outcome(encrypted=False, signed=False, failed=False) is None
    assert inbound(toml).subject_tag is None


def test_no_tags_for_outbound() -> None:
    pol = policy('[policy]\nsubject_tag_signed = "[signed]"')
    msg = message(sender=ALICE, to=[BOB], signed=True)
    assert pol.decide(Envelope(ALICE, (BOB,)), msg, StaticFacts())[BOB].subject_tag is None


def test_every_configured_tag_is_listed_for_removal() -> None:
    pol = policy('[policy]\nsubject_tag_signed = "[signed]"\n[policy.domains."example.org"]\n'
                 'subject_tag_failed = "[!]"\n[[policy.rules]]\nname = "r"\nsubject_tag_signed = "[signed]"\n'
                 'subject_tag_encrypted = "[enc]"')
    assert pol.subject_tags == ("[signed]", "[!]", "[enc]")

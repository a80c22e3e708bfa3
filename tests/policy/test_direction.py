"""Direction per recipient and accepted domains (exact, subdomain wildcards, case)."""

from __future__ import annotations

import pytest

from mailseal.policy import Direction, Envelope, StaticFacts

from .support import decide, message, policy


@pytest.mark.parametrize(("address", "internal"), [
    ("alice@example.org", True),
    ("Alice@EXAMPLE.ORG", True),
    ("<alice@example.org>", True),
    ("alice@example.org.", True),
    ("bob@sales.corp.example.org", True),
    ("bob@a.b.corp.example.org", True),
    ("bob@corp.example.org", False),  # "*.corp.example.org" means subdomains only
    ("bob@sub.example.org", False),
    ("bob@example.org.evil", False),
    ("bob@notexample.org", False),
    ("", False),
    ("no-at-sign", False),
])
def test_is_internal(address: str, internal: bool) -> None:
    assert policy().is_internal(address) is internal


@pytest.mark.parametrize(("sender", "recipient", "direction"), [
    ("alice@example.org", "bob@partner.example", Direction.OUTBOUND),
    ("bob@partner.example", "alice@example.org", Direction.INBOUND),
    ("alice@example.org", "carol@x.corp.example.org", Direction.INTERNAL),
    ("bob@partner.example", "eve@elsewhere.example", Direction.RELAY),
])
def test_direction(sender: str, recipient: str, direction: Direction) -> None:
    assert decide(policy(), sender, recipient)[recipient].direction is direction


def test_directions_per_recipient_in_envelope_order() -> None:
    d = decide(policy(), "alice@example.org", "bob@partner.example", "carol@example.org")
    assert d.directions == {"bob@partner.example": Direction.OUTBOUND, "carol@example.org": Direction.INTERNAL}
    assert [r.recipient for r in d.recipients] == ["bob@partner.example", "carol@example.org"]


def test_relay_is_classified_and_refused() -> None:
    d = decide(policy(), "bob@partner.example", "eve@elsewhere.example")
    r = d["eve@elsewhere.example"]
    assert r.rule == "relay" and r.refuse is not None and "relaying denied" in r.refuse
    assert d.refused() == (r,) and d.groups() == ()


def test_null_sender_direction_comes_from_the_from_header() -> None:
    pol = policy()
    d = pol.decide(_env("", "bob@partner.example"), message(sender="postmaster@example.org"), StaticFacts())
    assert d["bob@partner.example"].direction is Direction.OUTBOUND
    assert any("null sender" in n for n in d.notes)
    inbound = pol.decide(_env("", "alice@example.org"), message(sender="mailer-daemon@partner.example"),
                         StaticFacts())
    assert inbound["alice@example.org"].direction is Direction.INBOUND


def test_recipient_is_reported_without_angle_brackets() -> None:
    d = decide(policy(), "alice@example.org", "<Bob@Partner.example>")
    assert d.recipients[0].recipient == "Bob@Partner.example"
    assert d["bob@partner.example"].direction is Direction.OUTBOUND


def _env(sender: str, *rcpts: str) -> Envelope:
    return Envelope(sender, rcpts)

"""Encrypt outcomes ``portal`` and ``encrypt-or-portal`` (docs/portal.md): per global, domain, user and rule, and
what ``policy explain`` shows."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mailseal.cli.main import cli
from mailseal.policy import Action, StaticFacts

from .support import decide, message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"
CAROL = "carol@other.example"
CERT = StaticFacts(certificates=[BOB], signing_keys=[ALICE])


def test_portal_always_goes_to_the_portal_even_with_a_certificate() -> None:
    r = decide(policy('[policy]\nencrypt = "portal"'), ALICE, BOB, facts=CERT)[BOB]
    assert r.portal and not r.encrypt and r.action is Action.DELIVER and r.sign


def test_encrypt_or_portal_encrypts_with_a_certificate_else_portal() -> None:
    d = decide(policy('[policy]\nencrypt = "encrypt-or-portal"'), ALICE, BOB, CAROL, facts=CERT)
    assert d[BOB].encrypt and not d[BOB].portal
    assert d[CAROL].portal and not d[CAROL].encrypt
    assert f"no certificate for {CAROL}: through the portal" in d[CAROL].notes
    groups = d.groups()
    assert [(g.recipients, g.portal, g.encrypt) for g in groups] == [((BOB,), False, True), ((CAROL,), True, False)]


def test_portal_per_domain_user_and_rule() -> None:
    text = ('[policy.domains."other.example"]\nencrypt = "portal"\n'
            '[policy.users."dan@partner.example"]\nencrypt = "encrypt-or-portal"\n'
            '[[policy.rules]]\nname = "confidential"\ndirection = "outbound"\nsubject_contains = "[portal]"\n'
            'encrypt = "portal"\n')
    d = decide(policy(text), ALICE, BOB, CAROL, "dan@partner.example", facts=CERT)
    assert not d[BOB].portal and d[CAROL].portal and d["dan@partner.example"].portal
    assert d[CAROL].rule == "domain other.example" and d["dan@partner.example"].rule == "user dan@partner.example"
    ruled = decide(policy(text), ALICE, BOB, facts=CERT, msg=message(subject="[portal] Q3", to=[BOB]))[BOB]
    assert ruled.portal and ruled.rule == "rule confidential"


def test_inbound_mail_never_goes_to_the_portal() -> None:
    r = decide(policy('[policy]\nencrypt = "portal"'), BOB, ALICE)[ALICE]
    assert not r.portal and r.direction == "inbound"


def test_already_encrypted_mail_is_not_deposited() -> None:
    r = decide(policy('[policy]\nencrypt = "portal"'), ALICE, BOB, msg=message(encrypted=True, to=[BOB]))[BOB]
    assert not r.portal


def test_explain_shows_the_portal(tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text('[gateway]\naccepted_domains = ["example.org"]\n[policy]\nencrypt = "encrypt-or-portal"\n')
    runner = CliRunner()
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    args = ["policy", "explain", "--config", str(config), "--from", ALICE, "--to", BOB, "--to", CAROL,
            "--assume-cert", BOB]
    res = runner.invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    assert "encrypt  portal (read in the recipient portal)" in res.output
    assert f"{CAROL}: through the portal (a notification each)" in res.output
    js = json.loads(runner.invoke(cli, [*args, "--json"], env=env).output)
    by = {r["recipient"]: r for r in js["recipients"]}
    assert by[CAROL]["portal"] and not by[BOB]["portal"] and by[BOB]["encrypt"]

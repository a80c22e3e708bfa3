"""proof = "password" through the running gateway over real sockets (docs/portal.md, "Three proofs"): a generated
password per message, only its argon2id hash kept, the password notice at the sink for the sender alone (signed by
the portal's identity), never in a recipient's mail, the stored message or the log; a trusted sender's own
password in X-Mailseal-Portal-Password, removed before anything is stored or sent."""

from __future__ import annotations

import email.policy
import logging
import re
import smtplib
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.gateway.stamping import without_our_stamps
from mailseal.policy.portal_mail import PROOF_TEXT
from mailseal.store import KeyStore
from mailseal.store.portal import MIN_PASSWORD_CHARS, PortalStore
from mailseal.store.portal_key import portal_key
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, RunningGateway, message
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

MARKER = "PORTAL-SECRET-77aa"
GENERATED = re.compile(r"\b[A-Z2-9]{5}-[A-Z2-9]{5}-[A-Z2-9]{5}-[A-Z2-9]{5}\b")
ALICE, DAVE, EVE = "alice@example.org", "dave@partner.example", "eve@partner.example"


def _settings(**brand: Any) -> dict[str, Any]:
    portal: dict[str, Any] = {"base_url": "https://portal.example.org/", "outbox_poll_seconds": 0.2,
                              "sender": "portal@example.org"}
    if brand:
        portal["brands"] = {"example.org": brand}
    return {"policy": {"encrypt": "portal"}, "portal": portal}


def _store(gw: RunningGateway) -> PortalStore:
    return PortalStore(gw.store, portal_key(Path(gw.settings_dict["portal"]["key_file"])))


def _text(data: bytes) -> str:
    msg = BytesParser(policy=email.policy.default).parsebytes(data)
    return "\n".join(p.get_content() for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html"))


def _portal_identity(gw: RunningGateway, pki: TestPKI) -> None:
    agent = pki.user("gw-portal", email="portal@example.org")
    KeyStore(gw.store, PASSPHRASE, scrypt=FAST_SCRYPT).add(Identity(agent.key, agent.cert, tuple(agent.chain)))  # type: ignore[arg-type]


def test_a_generated_password_goes_to_the_sender_only(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                      pki: TestPKI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gw = start_gateway(_settings(proof="password"))
    _portal_identity(gw, pki)
    sent = message(ALICE, [DAVE, EVE], "Contract draft", f"The draft {MARKER}\n")
    assert gw.send(sent, ALICE, [DAVE, EVE]) == {}
    got = sink.wait_for(3, timeout=20)
    by = {g.rcpt_tos[0]: g for g in got}
    assert sorted(by) == [ALICE, DAVE, EVE] and all(len(g.rcpt_tos) == 1 for g in got)
    # the notice: encrypted to the sender (who has a certificate), signed by the portal's identity, naming the
    # message and holding the password
    assert b"application/pkcs7-mime" in by[ALICE].data and not GENERATED.search(by[ALICE].data.decode("latin-1"))
    alice = Identity(org.alice.key, org.alice.cert, tuple(org.alice.chain))  # type: ignore[arg-type]
    opened = api.open(by[ALICE].data, [alice], trust=org_trust(org))
    assert opened.report.encrypted and opened.report.status == "valid"
    assert opened.report.signers[0].emails == ["portal@example.org"]
    notice = _text(opened.message)
    [password] = set(GENERATED.findall(notice))
    [info] = _store(gw).list_messages()
    assert info.proof == "password" and info.id in notice and "Contract draft" in notice
    assert DAVE in notice and EVE in notice and MARKER not in notice
    assert len(password.replace("-", "")) * 4.95 >= 80  # 31 letters: log2(31) = 4.95 bits each
    # the recipients' notifications never carry it; the store keeps an argon2id hash only
    for rcpt in (DAVE, EVE):
        assert password not in _text(by[rcpt].data) and password.encode() not in by[rcpt].data
        assert PROOF_TEXT["password"] in _text(by[rcpt].data)  # it says a password will be needed
    portal = _store(gw)
    assert portal.check_password(info.id, DAVE, password) and portal.check_password(info.id, EVE, password)
    assert not portal.check_password(info.id, DAVE, password.lower())
    home = Path(gw.settings_dict["gateway"]["spool_dir"]).parent
    for path in [p for p in [*home.glob("mailseal.db*"), *(home / "spool").rglob("*")] if p.is_file()]:
        assert password.encode() not in path.read_bytes(), path
    assert not any(password in r.getMessage() for r in caplog.records if r.name.startswith("mailseal"))


def org_trust(org: Org) -> Any:
    from mailseal.pki.truststore import TrustStore

    return TrustStore(anchors=(org.pki.root_cert,))


def test_a_trusted_sender_chooses_the_password(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    chosen = "blue giraffe 42 at noon"
    gw = start_gateway(_settings())  # the brand's proof is the passcode: the field asks for more
    sent = message(ALICE, [DAVE], "Payroll", f"Figures {MARKER}\n")
    sent["X-Mailseal-Portal-Password"] = chosen
    assert gw.send(sent, ALICE, [DAVE]) == {}
    got = sink.wait_for(2, timeout=20)
    by = {g.rcpt_tos[0]: g for g in got}
    assert sorted(by) == [ALICE, DAVE]
    assert all(chosen.encode() not in g.data for g in got)
    alice = Identity(org.alice.key, org.alice.cert, tuple(org.alice.chain))  # type: ignore[arg-type]
    notice = _text(api.open(by[ALICE].data, [alice], trust=org_trust(org)).message)
    assert "the password you chose" in notice and chosen not in notice
    portal = _store(gw)
    [info] = portal.list_messages()
    assert info.proof == "password" and portal.check_password(info.id, DAVE, chosen)
    stored = portal.open_message(info.id, DAVE)
    assert MARKER.encode() in stored and b"x-mailseal-portal-password" not in stored.lower()
    assert not any(chosen in r.getMessage() for r in caplog.records if r.name.startswith("mailseal"))


def test_a_short_chosen_password_is_refused(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway(_settings())
    sent = message(ALICE, [DAVE], "Payroll", "x\n")
    sent["X-Mailseal-Portal-Password"] = "x" * (MIN_PASSWORD_CHARS - 1)
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(sent, ALICE, [DAVE])
    assert info.value.smtp_code // 100 == 5 and b"X-Mailseal-Portal-Password" in info.value.smtp_error
    assert _store(gw).list_messages() == []


def test_the_password_field_is_removed_from_every_copy() -> None:
    lines = [b"From: alice@example.org", b"X-Mailseal-Portal-Password: hunter2 hunter2",
             b"x-mailseal-portal-password:again", b"Subject: hi"]
    assert without_our_stamps(lines, "gw.example.org", []) == [b"From: alice@example.org", b"Subject: hi"]


def test_a_held_message_released_to_the_portal_records_the_notification(start_gateway: StartGateway,
                                                                        sink: SmtpSink) -> None:
    """gateway/release.py: an administrator releases a held message whose recipients now go to the portal (the
    policy changed since the hold): the notification goes out and the store records it as accepted, so a retry of
    the release would not send the recipient a second link."""
    import asyncio

    from mailseal.gateway.release import release
    from mailseal.gateway.settings import GatewaySettings
    from mailseal.policy import Policy

    held = {"policy": {"domains": {"partner.example": {"encrypt": "require", "on_missing_certificate": "hold"}}},
            "portal": {"base_url": "https://portal.example.org/", "outbox_poll_seconds": 0.2}}
    gw = start_gateway(held)
    assert gw.send(message(ALICE, [DAVE], "Held", f"{MARKER}\n"), ALICE, [DAVE]) == {}
    [entry] = gw.gateway.pipeline.held.list()
    assert sink.messages == [] and _store(gw).list_messages() == []
    now = {**gw.settings_dict, "policy": {"domains": {"partner.example": {"encrypt": "portal"}}}}
    reloaded = asyncio.run_coroutine_threadsafe(gw.gateway.reload(
        GatewaySettings.from_settings(now), Policy.from_settings(now), gw.gateway.current.resources, now), gw._loop)
    reloaded.result(30)
    done = release(gw.gateway, entry.id, actor="admin")
    assert done.actions[0] == "portal"
    [notice] = sink.wait_for(1)
    assert notice.rcpt_tos == [DAVE] and MARKER.encode() not in notice.data
    [info] = _store(gw).list_messages()
    [rcpt] = info.recipients
    assert rcpt.address == DAVE and rcpt.notified is not None
    assert gw.gateway.pipeline.held.list() == []


def test_the_password_field_is_not_in_a_refusal_notice() -> None:
    from mailseal.gateway.dsn import refusal_notice

    notice = refusal_notice(hostname="gw.example.org", sender=ALICE, refused=[(DAVE, "no certificate")],
                            header_lines=[b"From: alice@example.org", b"X-Mailseal-Portal-Password: hunter2 hunter2",
                                          b"Subject: hi"], delivered=1)
    assert b"hunter2" not in notice and b"Subject: hi" in notice


def test_the_password_field_of_a_sender_not_ours_is_ignored(start_gateway: StartGateway) -> None:
    """From a client that is neither in the trusted networks nor authenticated (``may_sign`` False), the field
    chooses nothing: the brand's proof stands, and the field is still removed."""
    import io

    gw = start_gateway(_settings())
    sent = message(ALICE, [DAVE], "Payroll", f"Figures {MARKER}\n")
    sent["X-Mailseal-Portal-Password"] = "blue giraffe 42 at noon"
    data = sent.as_bytes(policy=email.policy.SMTP)
    outcome = gw.gateway.pipeline.process(ALICE, [DAVE], io.BytesIO(data), len(data), may_sign=False)
    try:
        assert [o.outcome.portal_message for o in outcome.outgoing] != [None]
    finally:
        outcome.close()
    portal = _store(gw)
    [info] = portal.list_messages()
    assert info.proof == "passcode" and not portal.check_password(info.id, DAVE, "blue giraffe 42 at noon")
    assert b"blue giraffe" not in portal.open_message(info.id, DAVE)

"""Content rules at the gateway, over real sockets: a message carrying card numbers (in a base64 text attachment)
is refused at SMTP, one with an IBAN is held, a clean one is delivered; the matched text appears in no log line,
no audit record, no held-message record and nowhere in the database (grep), only the rule's name does."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from mailseal.store import events
from tests.gateway.conftest import StartGateway
from tests.support.smtp_sink import SmtpSink

ALICE = "alice@example.org"
DAVE = "dave@partner.example"
CARDS = ("4111 1111 1111 1111", "5555-5555-5555-4444")
IBAN = "GB82 WEST 1234 5698 7654 32"
# every way the secrets could be written down in a log: as sent, without separators, in pieces
TRACES = (*CARDS, IBAN, "4111111111111111", "5555555555554444", "GB82WEST12345698765432", "1111 1111",
          "5698 7654")

RULES = {"rules": [
    {"name": "no-cards-out", "direction": "outbound", "content_detectors": ["card-number"], "content_threshold": 2,
     "action": "reject"},
    {"name": "bank-details-review", "direction": "outbound", "content_detectors": ["iban"], "action": "hold"},
]}


def _message(body: str, attachment: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, DAVE, "figures"
    msg["Message-ID"] = make_msgid(domain="test.example")
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment.encode(), maintype="application", subtype="octet-stream", filename="list.txt")
    return msg


def _no_trace(where: str, text: str) -> None:
    for trace in TRACES:
        assert trace not in text, f"{trace!r} found in {where}"


def test_card_numbers_refused_iban_held_clean_delivered_and_never_logged(
        start_gateway: StartGateway, sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gw = start_gateway({"policy": RULES, "gateway": {"trusted_networks": ["127.0.0.1/32"]}})

    cards = _message("Please charge the attached cards.\n", attachment="\n".join(CARDS) + "\n")
    assert all(c.encode() not in cards.as_bytes() for c in CARDS)  # base64: only the decoded text shows them
    with pytest.raises(smtplib.SMTPDataError) as refused:
        gw.send(cards, ALICE, [DAVE])
    assert refused.value.smtp_code == 550 and b"no-cards-out" in refused.value.smtp_error
    _no_trace("the SMTP reply", refused.value.smtp_error.decode())

    assert gw.send(_message(f"Our bank details: {IBAN}\n"), ALICE, [DAVE]) == {}  # accepted: held, not sent
    assert gw.send(_message("Lunch on Friday? Card games after.\n"), ALICE, [DAVE]) == {}
    [delivered] = sink.wait_for(1)
    assert b"Lunch on Friday" in delivered.data

    held_dir = gw.gateway.settings.held_dir
    [meta] = held_dir.glob("*.json")
    record = meta.read_text()
    assert "held by rule bank-details-review" in record
    _no_trace("the held message's record", record)

    gw.gateway.audit_writer.flush()
    audit = events(gw.store, action="gateway.message")
    by_reply = {e.detail["reply"]: e.detail for e in audit}
    assert sorted(by_reply) == ["250", "550"] and len(audit) == 3
    held = next(e.detail for e in audit if e.detail.get("held"))
    assert held["held_by"] == ["rule bank-details-review"] and held["copies"] == []
    audit_text = repr([(e.action, e.subject, e.detail) for e in events(gw.store)])
    assert "no-cards-out" in audit_text and "bank-details-review" in audit_text
    _no_trace("the audit log", audit_text)
    _no_trace("the log lines", "\n".join(r.getMessage() for r in caplog.records))
    assert any("no-cards-out" in r.getMessage() for r in caplog.records)

    # nothing in the database file either (the audit log and every other table)
    db_path = gw.store.engine.url.database
    assert db_path is not None
    raw = Path(db_path).read_bytes()
    for trace in TRACES:
        assert trace.encode() not in raw


def test_one_card_number_is_under_the_threshold(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"policy": RULES})
    assert gw.send(_message(f"The card ending 1111: {CARDS[0]}\n"), ALICE, [DAVE]) == {}
    [got] = sink.wait_for(1)
    assert got.rcpt_tos == [DAVE]

"""A retried SMTP transaction through the running gateway over real sockets (docs/portal.md, "A retried message"):
the same message sent twice is one portal message and one notification per recipient; a first attempt whose
notifications the next hop refused for now (451 at the dot, the sender told 4xx) then the sender's retry give the
missing notifications only, each with a link that opens the one message."""

from __future__ import annotations

import email.policy
import re
import smtplib
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailseal.store.portal import PortalStore
from mailseal.store.portal_key import portal_key
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import RunningGateway, message
from tests.support.smtp_sink import SmtpSink, _Handler

MARKER = "PORTAL-RETRY-5e2c"
LINK = re.compile(rb"https?://[^\s\"<>]+/m/([A-Za-z0-9_-]{43})")
RCPTS = ["bob@partner.example", "carol@partner.example"]
SETTINGS: dict[str, Any] = {"policy": {"encrypt": "portal"},
                            "portal": {"base_url": "https://portal.example.org/", "outbox_poll_seconds": 0.2}}


class _Refusing(_Handler):
    """Answers 451 at the final dot to the first message for each address in ``refuse`` (nothing kept)."""

    def __init__(self, sink: SmtpSink, refuse: set[str]) -> None:
        super().__init__(sink)
        self.refuse = set(refuse)
        self.refused: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        hit = [str(r) for r in envelope.rcpt_tos if str(r) in self.refuse]
        if hit:
            self.refuse.difference_update(hit)
            self.refused.extend(hit)
            return "451 4.3.0 the test sink refuses this one for now"
        return await super().handle_DATA(server, session, envelope)


def _bytes(msg: EmailMessage) -> bytes:
    """The message as the sender's client sends it, every time the same bytes."""
    return msg.as_bytes(policy=email.policy.SMTP)


def _store(gw: RunningGateway) -> PortalStore:
    return PortalStore(gw.store, portal_key(Path(gw.settings_dict["portal"]["key_file"])))


def _links(gw: RunningGateway, sink: SmtpSink) -> dict[str, str]:
    """Each notification's recipient and the message its link opens (one notification per recipient asserted)."""
    got = sink.messages
    assert Counter(g.rcpt_tos[0] for g in got) == Counter(RCPTS), [g.rcpt_tos for g in got]
    portal = _store(gw)
    opened = {}
    for g in got:
        assert MARKER.encode() not in g.data
        tokens = set(LINK.findall(g.data))
        assert len(tokens) == 1
        link = portal.link(tokens.pop().decode())
        assert link is not None and link.address == g.rcpt_tos[0]
        assert MARKER.encode() in portal.open_message(link.message_id, link.address)
        opened[link.address] = link.message_id
    return opened


def test_the_same_message_twice_is_one_portal_message(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway(SETTINGS)
    data = _bytes(message("alice@example.org", RCPTS, "Figures", f"The figures {MARKER}\n"))
    assert gw.send(data, "alice@example.org", RCPTS) == {}
    assert gw.send(data, "alice@example.org", RCPTS) == {}  # the retry after a lost 250: accepted again
    opened = _links(gw, sink)
    [info] = _store(gw).list_messages()
    assert set(opened.values()) == {info.id}
    # another message (other bytes) is a new portal message with its own notifications
    assert gw.send(message("alice@example.org", RCPTS, "Other", f"x {MARKER}\n"), "alice@example.org", RCPTS) == {}
    assert len(sink.wait_for(4)) == 4 and len(_store(gw).list_messages()) == 2


@pytest.mark.parametrize("refuse", [{"carol@partner.example"}, set(RCPTS)], ids=["one-refused", "all-refused"])
def test_a_retry_after_refused_notifications_completes_them_once(start_gateway: StartGateway, tmp_path: Path,
                                                                 refuse: set[str]) -> None:
    with SmtpSink() as hop:
        handler = _Refusing(hop, refuse)
        hop._controller.handler = handler
        gw = start_gateway(SETTINGS, next_hop=hop.address)
        data = _bytes(message("alice@example.org", RCPTS, "Figures", f"The figures {MARKER}\n"))
        with pytest.raises(smtplib.SMTPDataError) as info:
            gw.send(data, "alice@example.org", RCPTS)
        assert 400 <= info.value.smtp_code < 500 and sorted(handler.refused) == sorted(refuse)
        assert sorted(m.rcpt_tos[0] for m in hop.messages) == sorted(set(RCPTS) - refuse)
        assert gw.send(data, "alice@example.org", RCPTS) == {}
        opened = _links(gw, hop)
        [info_] = _store(gw).list_messages()
        assert set(opened.values()) == {info_.id}
        assert gw.send(data, "alice@example.org", RCPTS) == {}  # a third time: nothing more is sent
        assert len(hop.messages) == len(RCPTS)


def test_a_retry_while_another_node_notifies_is_4xx(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """The same transaction retried here while another node still holds the recipients' notifications (its
    lease running): 4xx, no second link; once that node recorded them, the retry is 250 and sends nothing."""
    import hashlib

    from mailseal.store.portal import deposit_digest

    gw = start_gateway({"policy": {"encrypt": "portal"},
                        "portal": {"base_url": "https://portal.example.org/", "outbox_poll_seconds": 0.2}})
    data = message("alice@example.org", ["dave@partner.example"], "Figures", "x\n").as_bytes(policy=email.policy.SMTP)
    portal = PortalStore(gw.store, portal_key(Path(gw.settings_dict["portal"]["key_file"])))
    other = portal.deposit(data, "alice@example.org", ["dave@partner.example"], brand="example.org",
                           digest=deposit_digest(hashlib.sha256(data).hexdigest(), "alice@example.org",
                                                 ["dave@partner.example"]), holder="another-node:1")
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(data, "alice@example.org", ["dave@partner.example"])
    assert 400 <= info.value.smtp_code < 500, info.value.smtp_error
    assert sink.messages == [] and len(portal.list_messages()) == 1
    portal.mark_notified(other.id, ["dave@partner.example"])
    assert gw.send(data, "alice@example.org", ["dave@partner.example"]) == {}
    assert sink.messages == [] and [m.id for m in portal.list_messages()] == [other.id]

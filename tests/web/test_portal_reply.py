"""Replying in the portal: the reply is kept (sealed) in the conversation and queued in the outbox for the gateway,
to the sender, threaded under the original; reply-all adds the original's recipients inside the sender's
organisation only; the reading session sees its own replies."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from tests.web.portal_flow import BOB, CAROL, DAVE, SENDER, Flow, csrf, sign_in


def _parsed(mail: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(mail, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_reply_and_reply_all(flow: Flow) -> None:
    client = flow.client()
    message_id = sign_in(flow, client, flow.tokens[BOB], BOB)
    page = client.get(f"/read/{message_id}")
    assert f"also to {DAVE}" in page.text and CAROL not in page.text.split("Reply all")[1]
    token = csrf(page.text)
    sent = client.post(f"/read/{message_id}/reply", data={"text": "Thanks, received.", "csrf_token": token})
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/read/{message_id}?sent=1")
    everyone = client.post(f"/read/{message_id}/reply",
                           data={"text": "To all of you.", "everyone": "1", "csrf_token": token})
    assert everyone.status_code == 303
    queued = flow.outbox("reply")
    assert [r for _, r, _ in queued] == [(SENDER,), (SENDER, DAVE)]
    first = _parsed(queued[0][2])
    assert first["From"] == BOB and first["To"] == SENDER
    assert first["Subject"] == "Re: Quarterly figures"
    assert first["In-Reply-To"] == "<orig-1@example.org>" and first["References"] == "<orig-1@example.org>"
    assert "Thanks, received." in first.get_content()
    conversation = client.get(f"/read/{message_id}?sent=1")
    assert "Your reply was sent." in conversation.text
    assert "Thanks, received." in conversation.text and "To all of you." in conversation.text
    replies = flow.messages.replies(message_id)
    assert [r.author for r in replies] == [BOB, BOB]


def test_a_reply_to_a_revoked_message_is_refused(flow: Flow) -> None:
    client = flow.client()
    message_id = sign_in(flow, client, flow.tokens[BOB], BOB)
    token = csrf(client.get(f"/read/{message_id}").text)
    flow.messages.revoke(message_id, now=flow.clock.now)
    answer = client.post(f"/read/{message_id}/reply", data={"text": "late", "csrf_token": token})
    assert answer.status_code == 410 and "revoked by the sender" in answer.text
    assert flow.outbox("reply") == []

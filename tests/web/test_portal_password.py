"""proof = "password": a message whose sender set a password (passed on by another channel) is read with that
password, never with a mailed code alone; the proof holds for this session and this message only."""

from __future__ import annotations

from mailseal.web.portal_link import PASSWORD_FAILED
from mailseal.web.portal_proof import PROOF_COOKIE
from tests.web.portal_flow import BOB, CAROL, Flow, ask, csrf, sign_in
from tests.web.portal_support import MARKER

PASSWORD = "correct horse battery"


def _protected(flow: Flow) -> tuple[str, dict[str, str]]:
    message_id, tokens = flow.deposit([BOB, CAROL])
    flow.messages.set_password(message_id, PASSWORD)
    return message_id, tokens


def _give(client: object, token: str, address: str, password: str) -> object:
    landing = client.get(f"/m/{token}")  # type: ignore[attr-defined]
    assert "Password from the sender" in landing.text
    return client.post(f"/m/{token}/password",  # type: ignore[attr-defined]
                       data={"address": address, "password": password, "csrf_token": csrf(landing.text)})


def test_the_password_opens_the_message(flow: Flow) -> None:
    message_id, tokens = _protected(flow)
    client = flow.client()
    for address, password in ((BOB, "wrong password"), ("mallory@outside.example", PASSWORD)):
        refused = _give(client, tokens[BOB], address, password)
        assert refused.status_code == 401 and PASSWORD_FAILED in refused.text  # type: ignore[attr-defined]
    opened = _give(client, tokens[BOB], BOB, PASSWORD)
    assert opened.status_code == 303 and opened.headers["location"] == f"/read/{message_id}"  # type: ignore[attr-defined]
    page = client.get(f"/read/{message_id}")
    assert page.status_code == 200 and MARKER in page.text
    # no passcode is mailed for such a message
    asked = ask(client, tokens[CAROL], CAROL)
    assert asked.status_code == 422 and flow.outbox("passcode") == []  # type: ignore[attr-defined]


def test_a_passcode_session_does_not_open_a_password_message(flow: Flow) -> None:
    message_id, _ = _protected(flow)
    client = flow.client()
    sign_in(flow, client, flow.tokens[BOB], BOB)  # Bob proved his mailbox for the other message
    assert client.get(f"/read/{flow.message_id}").status_code == 200
    refused = client.get(f"/read/{message_id}")
    assert refused.status_code == 403 and MARKER not in refused.text and "sender&#39;s password" in refused.text
    assert client.get(f"/read/{message_id}/part/1").status_code == 403


def test_the_proof_cannot_move_to_another_session(flow: Flow) -> None:
    message_id, tokens = _protected(flow)
    bob = flow.client()
    assert _give(bob, tokens[BOB], BOB, PASSWORD).status_code == 303  # type: ignore[attr-defined]
    proof = bob.cookies.get(PROOF_COOKIE)
    assert proof and message_id in proof
    other = flow.client()
    sign_in(flow, other, flow.tokens[BOB], BOB)  # Bob again, another browser, with a mailed code only
    other.cookies.set(PROOF_COOKIE, proof)
    assert other.get(f"/read/{message_id}").status_code == 403
    forged = proof.rsplit(".", 1)[0] + "." + "0" * 64
    bob.cookies.set(PROOF_COOKIE, forged)
    assert bob.get(f"/read/{message_id}").status_code == 403


def test_wrong_passwords_are_counted_and_rate_limited(flow: Flow) -> None:
    from mailseal.store import events
    from mailseal.web.portal_link import CHECK_PER_ADDRESS, TOO_MANY

    message_id, tokens = _protected(flow)
    limit, _ = CHECK_PER_ADDRESS
    for _ in range(limit):
        refused = _give(flow.client(), tokens[BOB], BOB, "a wrong password")
        assert refused.status_code == 401  # type: ignore[attr-defined]
    checks = [e.detail["result"] for e in events(flow.store, "portal.password-check", message_id)]
    assert checks == ["wrong"] * limit
    over = _give(flow.client(), tokens[BOB], BOB, PASSWORD)  # even the right one, past the limit
    assert over.status_code == 429 and TOO_MANY.split(".")[0] in over.text  # type: ignore[attr-defined]
    assert len(events(flow.store, "portal.password-check", message_id)) == limit  # not even checked
    flow.clock.advance(minutes=16)
    assert _give(flow.client(), tokens[BOB], BOB, PASSWORD).status_code == 303  # type: ignore[attr-defined]

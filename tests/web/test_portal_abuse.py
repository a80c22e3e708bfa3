"""Must-show 2 of issue 16, against the portal app over a real store (SQLite) with the clock injected: six wrong
codes, a code after 11 minutes, a code reused, a code for another message, recipient or browser, expired and
revoked links, link-token guessing, and identical answers for a recipient and a non-recipient; plus the session's
reach, the rate limits, CSRF and the headers."""

from __future__ import annotations

import re
import secrets

from mailseal.web.portal_app import PORTAL_CSP
from mailseal.web.portal_context import BINDING_COOKIE, SESSION_COOKIE
from mailseal.web.portal_link import ASK_PER_ADDRESS, CODE_FAILED, LINK_PER_CLIENT, NOT_A_LINK
from tests.web.portal_flow import BOB, CAROL, REFERENCE, Flow, ask, code_in, csrf, give, sign_in
from tests.web.portal_support import MARKER
from tests.web.test_security import api_routes


def _body(text: str) -> str:
    """A page without what differs between two answers by design: the CSRF token."""
    return re.sub(r'name="csrf_token" value="[^"]+"', "", text)


def _failed(answer: object) -> bool:
    return answer.status_code == 401 and CODE_FAILED in answer.text  # type: ignore[attr-defined]


def test_the_right_code_opens_the_message_with_a_fresh_session(flow: Flow) -> None:
    client = flow.client()
    message_id = sign_in(flow, client, flow.tokens[BOB], BOB)
    assert message_id == flow.message_id
    page = client.get(f"/read/{message_id}")
    assert page.status_code == 200 and MARKER in page.text and "figures.csv" in page.text
    again = client.get(f"/m/{flow.tokens[BOB]}")  # the link again, signed in: straight to the message
    assert again.status_code == 303 and again.headers["location"] == f"/read/{message_id}"
    other = client.get(f"/m/{flow.tokens[CAROL]}")  # another recipient's link: her proof is still needed
    assert other.status_code == 200 and "Send me a one-time passcode" in other.text
    cookie = next(c for c in client.cookies.jar if c.name == SESSION_COOKIE)
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    assert page.headers["content-security-policy"] == PORTAL_CSP
    assert "script-src 'none'" in PORTAL_CSP and "img-src 'self'" in PORTAL_CSP


def test_six_wrong_codes_then_even_the_right_one_fails(flow: Flow) -> None:
    client = flow.client()
    ask(client, flow.tokens[BOB], BOB)
    [(_, _, mail)] = flow.outbox("passcode")
    right = code_in(mail)
    wrong = f"{(int(right) + 1) % 10 ** len(right):0{len(right)}d}"
    for _ in range(6):
        assert _failed(give(client, flow.tokens[BOB], BOB, wrong))
    assert _failed(give(client, flow.tokens[BOB], BOB, right))  # locked: a new code is needed
    ask(client, flow.tokens[BOB], BOB)
    [(_, _, fresh)] = flow.outbox("passcode")
    assert give(client, flow.tokens[BOB], BOB, code_in(fresh)).status_code == 303


def test_a_code_after_eleven_minutes_fails(flow: Flow) -> None:
    client = flow.client()
    ask(client, flow.tokens[BOB], BOB)
    [(_, _, mail)] = flow.outbox("passcode")
    flow.clock.advance(minutes=11)
    assert _failed(give(client, flow.tokens[BOB], BOB, code_in(mail)))
    ask(client, flow.tokens[BOB], BOB)
    [(_, _, fresh)] = flow.outbox("passcode")
    flow.clock.advance(minutes=9)
    assert give(client, flow.tokens[BOB], BOB, code_in(fresh)).status_code == 303


def test_a_code_works_once(flow: Flow) -> None:
    client = flow.client()
    ask(client, flow.tokens[BOB], BOB)
    [(_, _, mail)] = flow.outbox("passcode")
    code = code_in(mail)
    assert give(client, flow.tokens[BOB], BOB, code).status_code == 303
    assert _failed(give(client, flow.tokens[BOB], BOB, code))


def test_a_code_for_another_recipient_message_or_browser_fails(flow: Flow) -> None:
    client = flow.client()
    ask(client, flow.tokens[BOB], BOB)
    [(_, _, bobs)] = flow.outbox("passcode")
    code = code_in(bobs)
    # Carol's link and address with Bob's code
    assert _failed(give(client, flow.tokens[CAROL], CAROL, code))
    # another message to Bob, with the code of the first
    _, tokens = flow.deposit([BOB])
    assert _failed(give(client, tokens[BOB], BOB, code))
    # the same link and address from another browser (another binding cookie)
    other = flow.client()
    assert _failed(give(other, flow.tokens[BOB], BOB, code))
    # and the code still works where it was asked for (the failures above were not its tries)
    assert give(client, flow.tokens[BOB], BOB, code).status_code == 303


def test_revoked_and_expired_links_say_so(flow: Flow) -> None:
    client = flow.client()
    message_id = sign_in(flow, client, flow.tokens[BOB], BOB)
    token = csrf(client.get(f"/read/{message_id}").text)
    flow.messages.revoke(message_id, note="sent by mistake", now=flow.clock.now)
    for answer in (client.get(f"/m/{flow.tokens[CAROL]}"), client.get(f"/read/{message_id}")):
        assert answer.status_code == 410 and "revoked by the sender" in answer.text, answer.text[:300]
    assert MARKER not in client.get(f"/read/{message_id}").text
    assert client.get(f"/read/{message_id}/part/1").status_code == 410
    _, tokens = flow.deposit([BOB], expiry_days=2)
    flow.clock.advance(days=3)
    answer = client.get(f"/m/{tokens[BOB]}")
    assert answer.status_code == 410 and "has expired" in answer.text
    assert client.post(f"/m/{tokens[BOB]}/code", data={"address": BOB, "csrf_token": token}).status_code == 410
    assert flow.outbox("passcode") == []


def test_guessed_tokens_all_get_one_answer_and_are_rate_limited(flow: Flow) -> None:
    client = flow.client()
    answers = {_body(client.get(f"/m/{secrets.token_urlsafe(32)}").text) for _ in range(5)}
    answers.add(_body(client.get(f"/m/{flow.tokens[BOB][:-1]}x").text))
    answers.add(_body(client.get("/m/" + "A" * 200).text))
    assert len(answers) == 1 and NOT_A_LINK in answers.pop()
    limit = LINK_PER_CLIENT[0]
    statuses = [client.get(f"/m/{secrets.token_urlsafe(32)}").status_code for _ in range(limit)]
    assert statuses[-1] == 429 and set(statuses[: limit - 8]) == {404}
    # the right token is refused too from this client until the window passes
    assert client.get(f"/m/{flow.tokens[BOB]}").status_code == 429
    flow.clock.advance(seconds=LINK_PER_CLIENT[1].total_seconds())
    assert client.get(f"/m/{flow.tokens[BOB]}").status_code == 200


def test_a_recipient_and_a_non_recipient_get_the_same_answers(flow: Flow) -> None:
    client = flow.client()
    stranger = "mallory@outside.example"
    to_bob = ask(client, flow.tokens[BOB], BOB)
    to_stranger = ask(client, flow.tokens[BOB], stranger)
    assert to_bob.status_code == to_stranger.status_code == 200  # type: ignore[attr-defined]

    def normalised(answer: object, address: str) -> str:
        text = _body(answer.text).replace(address, "ADDRESS")  # type: ignore[attr-defined]
        return REFERENCE.sub("REF", re.sub(r"reference [A-Z0-9]{6}", "reference REF", text))

    assert normalised(to_bob, BOB) == normalised(to_stranger, stranger)
    # only the recipient's code was queued
    assert [r for _, r, _ in flow.outbox("passcode")] == [(BOB,)]
    # a guessed code for the stranger fails with the same words as a wrong code for Bob
    assert _failed(give(client, flow.tokens[BOB], stranger, "12345678"))
    assert _failed(give(client, flow.tokens[BOB], BOB, "00000000"))


def test_code_requests_are_limited_per_address(flow: Flow) -> None:
    limit = ASK_PER_ADDRESS[0]
    statuses = [ask(flow.client(), flow.tokens[BOB], BOB).status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit and statuses[limit] == 429
    assert len(flow.outbox("passcode")) == limit
    # another address from yet another client is not held back by Bob's limit
    assert ask(flow.client(), flow.tokens[CAROL], CAROL).status_code == 200


def test_a_session_reaches_its_own_messages_only(flow: Flow) -> None:
    client = flow.client()
    sign_in(flow, client, flow.tokens[BOB], BOB)
    carols_only, _ = flow.deposit([CAROL])
    mine = client.get(f"/read/{carols_only}")
    missing = client.get(f"/read/{secrets.token_hex(16)}")
    assert mine.status_code == missing.status_code == 404
    assert _body(mine.text) == _body(missing.text)
    assert client.get(f"/read/{carols_only}/part/1").status_code == 404
    listed = client.get("/messages")
    assert listed.status_code == 200 and flow.message_id in listed.text and carols_only not in listed.text


def test_no_session_no_message(flow: Flow) -> None:
    client = flow.client()
    for path in (f"/read/{flow.message_id}", f"/read/{flow.message_id}/part/1", "/messages"):
        answer = client.get(path)
        assert answer.status_code == 401 and MARKER not in answer.text


def test_every_form_needs_the_csrf_token(flow: Flow) -> None:
    """Every state-changing route of the portal (enumerated from the app, so that a route added later is covered)
    refuses a request without the token, or with a wrong one, even from a signed-in reader."""
    client = flow.client()
    sign_in(flow, client, flow.tokens[BOB], BOB)
    assert client.cookies.get(BINDING_COOKIE)
    fill = {"token": flow.tokens[BOB], "message_id": flow.message_id}
    posts = [re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], r.path) for r in api_routes(flow.app.routes)
             if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(posts) >= 4
    for path in posts:
        for token in ({}, {"csrf_token": "wrong"}):
            data = {"address": BOB, "code": "1", "text": "hi", **token}
            assert client.post(path, data=data).status_code == 403, path
    assert flow.outbox() == []
    assert client.get(f"/read/{flow.message_id}").status_code == 200  # still signed in: only refused


def test_attachments_download_and_never_render(flow: Flow) -> None:
    client = flow.client()
    sign_in(flow, client, flow.tokens[BOB], BOB)
    page = client.get(f"/read/{flow.message_id}")
    index = re.search(r'href="/read/[0-9a-f]+/part/(\d+)" download>figures.csv', page.text)
    assert index is not None
    part = client.get(f"/read/{flow.message_id}/part/{index.group(1)}")
    assert part.status_code == 200 and part.content == b"col1,col2\n1,2\n"
    assert part.headers["content-disposition"].startswith("attachment;")
    assert part.headers["content-type"] == "application/octet-stream"
    assert part.headers["x-content-type-options"] == "nosniff"


def test_sign_out_ends_the_session(flow: Flow) -> None:
    client = flow.client()
    sign_in(flow, client, flow.tokens[BOB], BOB)
    token = csrf(client.get(f"/read/{flow.message_id}").text)
    assert client.post("/signout", data={"csrf_token": token}).status_code == 200
    assert client.get(f"/read/{flow.message_id}").status_code == 401


def test_errors_are_the_portals_own_pages(flow: Flow) -> None:
    client = flow.client()
    for path in ("/nothing-here", "/read/x/part/notanumber"):
        answer = client.get(path)
        assert answer.status_code in (401, 404, 422), path
        assert "portal.css" in answer.text and "console" not in answer.text.lower() and "Traceback" not in answer.text
        assert answer.headers["content-security-policy"] == PORTAL_CSP

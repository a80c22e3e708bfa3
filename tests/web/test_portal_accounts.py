"""proof = "account" in the portal (docs/portal.md, "Recipient accounts"): the first visit proves the mailbox with
a mailed code and then enrols a password and a TOTP authenticator; later visits sign in with both, no mailed code;
wrong and replayed codes, lock-out, rate limits, identical answers for unknown addresses; an account session reaches
every active message of its address and nothing of another's."""

from __future__ import annotations

import re

import pyotp
from starlette.testclient import TestClient

from mailseal.store import audit
from mailseal.store.portal_accounts import PortalAccounts, SignIn
from mailseal.web.portal_account import CODE_WRONG
from mailseal.web.portal_link import ACCOUNT_FAILED, CHECK_PER_ADDRESS, TOO_MANY
from tests.web.portal_flow import BOB, CAROL, CSRF, Flow, ask, code_in, csrf, give
from tests.web.portal_support import MARKER

SECRET = re.compile(r'id="secret">([A-Z2-7]+)<')
PASSWORD = "a long portal password"


def _accounts(flow: Flow) -> PortalAccounts:
    return flow.app.state.portal.account_store  # type: ignore[attr-defined, no-any-return]


def _totp(flow: Flow, secret: str) -> str:
    return str(pyotp.TOTP(secret).at(flow.clock.now))


def _mailbox(flow: Flow, client: TestClient, token: str, address: str) -> str:
    """Ask for a mailed code and give it: where the portal sends the reader next."""
    assert ask(client, token, address).status_code == 200  # type: ignore[attr-defined]
    [(_, _, mail)] = flow.outbox("passcode")
    given = give(client, token, address, code_in(mail))
    assert given.status_code == 303, given.text[:300]  # type: ignore[attr-defined]
    return str(given.headers["location"])  # type: ignore[attr-defined]


def _enrol(flow: Flow, client: TestClient, token: str, address: str) -> str:
    """The first visit: mailed code, then password and TOTP; the TOTP secret."""
    location = _mailbox(flow, client, token, address)
    assert location == f"/account/enrol?token={token}"
    form = client.get(location)
    assert form.status_code == 200 and "<svg" in form.text  # the QR code, inline
    found = SECRET.search(form.text)
    assert found is not None
    secret = found.group(1)
    done = client.post("/account/enrol", data={"password": PASSWORD, "confirm": PASSWORD,
                                               "code": _totp(flow, secret), "token": token,
                                               "csrf_token": csrf(form.text)})
    assert done.status_code == 303 and done.headers["location"] == "/messages", done.text[:300]
    return secret


def _sign_in(client: TestClient, token: str, address: str, password: str, code: str) -> object:
    landing = client.get(f"/m/{token}")
    assert landing.status_code == 200 and 'action="/m/' in landing.text
    return client.post(f"/m/{token}/account", data={"address": address, "password": password, "code": code,
                                                    "csrf_token": csrf(landing.text)})


def _account_message(flow: Flow, recipients: list[str]) -> tuple[str, dict[str, str]]:
    return flow.deposit(recipients, proof="account")


def test_enrolment_needs_the_mailed_code_first(flow: Flow) -> None:
    message_id, tokens = _account_message(flow, [BOB, CAROL])
    client = flow.client()
    assert client.get("/account/enrol").status_code == 401  # no session: no enrolment
    refused = _sign_in(client, tokens[BOB], BOB, PASSWORD, "123456")  # no account yet
    assert refused.status_code == 401 and ACCOUNT_FAILED in refused.text  # type: ignore[attr-defined]
    _enrol(flow, client, tokens[BOB], BOB)
    assert _accounts(flow).get(BOB) is not None and _accounts(flow).get(BOB).enrolled  # type: ignore[union-attr]
    page = client.get(f"/read/{message_id}")
    assert page.status_code == 200 and MARKER in page.text


def test_a_mailed_code_alone_does_not_open_an_account_message(flow: Flow) -> None:
    message_id, tokens = _account_message(flow, [BOB])
    client = flow.client()
    _mailbox(flow, client, tokens[BOB], BOB)
    refused = client.get(f"/read/{message_id}")
    assert refused.status_code == 403 and MARKER not in refused.text and "portal account" in refused.text
    # a wrong code at enrolment changes nothing
    form = client.get(f"/account/enrol?token={tokens[BOB]}")
    wrong = client.post("/account/enrol", data={"password": PASSWORD, "confirm": PASSWORD, "code": "000000",
                                                "csrf_token": csrf(form.text)})
    assert wrong.status_code == 422 and CODE_WRONG in wrong.text
    assert not _accounts(flow).get(BOB).enrolled  # type: ignore[union-attr]


def test_password_and_totp_sign_in_without_a_mailed_code(flow: Flow) -> None:
    message_id, tokens = _account_message(flow, [BOB])
    secret = _enrol(flow, flow.client(), tokens[BOB], BOB)
    flow.clock.advance(seconds=30)
    other = flow.client()  # another browser, later
    opened = _sign_in(other, tokens[BOB], BOB, PASSWORD, _totp(flow, secret))
    assert opened.status_code == 303 and opened.headers["location"] == f"/read/{message_id}"  # type: ignore[attr-defined]
    assert MARKER in other.get(f"/read/{message_id}").text
    assert flow.outbox("passcode") == []  # no mail was needed
    # the mailed code of an enrolled account leads back to the sign-in, never to a second enrolment
    third = flow.client()
    assert _mailbox(flow, third, tokens[BOB], BOB) == f"/m/{tokens[BOB]}"
    assert third.get(f"/read/{message_id}").status_code == 403
    assert third.get("/account/enrol").status_code == 409


def test_wrong_and_replayed_codes_are_refused(flow: Flow) -> None:
    _, tokens = _account_message(flow, [BOB])
    secret = _enrol(flow, flow.client(), tokens[BOB], BOB)  # the enrolment used this step's code
    client = flow.client()
    replayed = _sign_in(client, tokens[BOB], BOB, PASSWORD, _totp(flow, secret))
    assert replayed.status_code == 401 and ACCOUNT_FAILED in replayed.text  # type: ignore[attr-defined]
    flow.clock.advance(seconds=30)
    good = _totp(flow, secret)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    assert _sign_in(client, tokens[BOB], BOB, PASSWORD, wrong).status_code == 401  # type: ignore[attr-defined]
    assert _sign_in(client, tokens[BOB], BOB, "not the password", good).status_code == 401  # type: ignore[attr-defined]
    assert _sign_in(client, tokens[BOB], BOB, PASSWORD, good).status_code == 303  # type: ignore[attr-defined]
    again = flow.client()  # the same code once more, in another browser
    assert _sign_in(again, tokens[BOB], BOB, PASSWORD, good).status_code == 401  # type: ignore[attr-defined]
    results = audit.events(flow.store, "portal.account-sign-in", BOB)
    assert [e.detail["result"] for e in results] == ["replayed", "wrong", "wrong", "ok", "replayed"]


def test_failures_lock_the_account(flow: Flow) -> None:
    _, tokens = _account_message(flow, [BOB])
    secret = _enrol(flow, flow.client(), tokens[BOB], BOB)
    client = flow.client()
    for _ in range(5):
        assert _sign_in(client, tokens[BOB], BOB, "guess guess guess", "111111").status_code == 401  # type: ignore[attr-defined]
    flow.clock.advance(seconds=30)
    locked = _sign_in(client, tokens[BOB], BOB, PASSWORD, _totp(flow, secret))
    assert locked.status_code == 401 and ACCOUNT_FAILED in locked.text  # type: ignore[attr-defined]
    assert _accounts(flow).get(BOB).locked_until is not None  # type: ignore[union-attr]
    flow.clock.advance(minutes=16)
    assert _sign_in(client, tokens[BOB], BOB, PASSWORD, _totp(flow, secret)).status_code == 303  # type: ignore[attr-defined]


def test_an_account_session_reaches_its_own_messages_only(flow: Flow) -> None:
    first, tokens = _account_message(flow, [BOB, CAROL])
    second, _ = _account_message(flow, [BOB])
    revoked, _ = _account_message(flow, [BOB])
    carols, _ = _account_message(flow, [CAROL])
    flow.messages.revoke(revoked)
    client = flow.client()
    _enrol(flow, client, tokens[BOB], BOB)
    for own in (first, second, flow.message_id):  # flow.message_id: a passcode message to Bob
        assert MARKER in client.get(f"/read/{own}").text, own
    assert client.get(f"/read/{revoked}").status_code == 410
    other = client.get(f"/read/{carols}")
    assert other.status_code == 404 and MARKER not in other.text
    listed = client.get("/messages").text
    assert first in listed and second in listed and carols not in listed


def test_unknown_addresses_get_the_same_answer(flow: Flow) -> None:
    _, tokens = _account_message(flow, [BOB])
    _enrol(flow, flow.client(), tokens[BOB], BOB)
    answers = []
    for address in (BOB, "nobody@nowhere.example", CAROL):  # enrolled, unknown, a recipient without an account
        answer = _sign_in(flow.client(), tokens[BOB], address, "wrong password!", "123456")
        text = CSRF.sub("CSRF", answer.text.replace(address, "ADDRESS"))  # type: ignore[attr-defined]
        answers.append((answer.status_code, text))  # type: ignore[attr-defined]
    assert answers[0] == answers[1] == answers[2]


def test_sign_ins_are_rate_limited_per_address(flow: Flow) -> None:
    _, tokens = _account_message(flow, [BOB])
    limit, _ = CHECK_PER_ADDRESS
    for _ in range(limit):
        assert _sign_in(flow.client(), tokens[BOB], "nobody@nowhere.example", "x" * 12, "123456").status_code == 401  # type: ignore[attr-defined]
    over = _sign_in(flow.client(), tokens[BOB], "nobody@nowhere.example", "x" * 12, "123456")
    assert over.status_code == 429 and TOO_MANY.split(".")[0] in over.text  # type: ignore[attr-defined]


def test_a_reset_account_enrols_again(flow: Flow) -> None:
    message_id, tokens = _account_message(flow, [BOB])
    client = flow.client()
    old = _enrol(flow, client, tokens[BOB], BOB)
    _accounts(flow).reset(BOB, actor="admin")
    assert client.get(f"/read/{message_id}").status_code == 401  # its sessions ended
    flow.clock.advance(seconds=30)
    assert _sign_in(flow.client(), tokens[BOB], BOB, PASSWORD, _totp(flow, old)).status_code == 401  # type: ignore[attr-defined]
    new = _enrol(flow, flow.client(), tokens[BOB], BOB)
    assert new != old
    # the enrolment's own code was accepted once: the same step again is a replay, the next step signs in
    assert _accounts(flow).sign_in(BOB, PASSWORD, _totp(flow, new), flow.clock.now) is SignIn.REPLAYED
    flow.clock.advance(seconds=30)
    assert _accounts(flow).sign_in(BOB, PASSWORD, _totp(flow, new), flow.clock.now) is SignIn.OK


def test_the_link_leads_a_proved_mailbox_on_to_the_enrolment(flow: Flow) -> None:
    _, tokens = _account_message(flow, [BOB])
    client = flow.client()
    _mailbox(flow, client, tokens[BOB], BOB)
    again = client.get(f"/m/{tokens[BOB]}")  # the reader came back through the link before enrolling
    assert again.status_code == 303 and again.headers["location"] == f"/account/enrol?token={tokens[BOB]}"
    assert flow.client().get(f"/m/{tokens[BOB]}").status_code == 200  # another browser: the sign-in page

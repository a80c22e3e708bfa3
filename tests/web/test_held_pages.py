"""The Held page and /api/v1/held against a real gateway: messages held by the policy (encryption required, no
certificate) are listed and shown (header, never the body), released through the policy again once the
recipient's certificate is imported (the sink gets it encrypted) or unencrypted by the administrator's decision,
deleted; every change audited once; an auditor reads only."""

from __future__ import annotations

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.store import events
from mailseal.web.app import create_app
from mailseal.web.settings import WebSettings
from tests.web.conftest import CSRF, FAST, Console
from tests.web.held_support import DAVE, ERIN, Held, held

__all__ = ["held"]


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None
    return found.group(1)


def test_list_show_release_after_import_unencrypted_and_delete(held: Held) -> None:
    root = held.console.login("root")
    for_erin = held.hold([ERIN], "for erin", "Secret for erin.\n")
    for_dave = held.hold([DAVE], "for dave", "Plain for dave.\n")
    doomed = held.hold([DAVE], "doomed", "Never sent.\n")
    assert held.sink.messages == []

    listed = root.get("/held")
    assert listed.status_code == 200
    for held_id in (for_erin, for_dave, doomed):
        assert f'href="/held/{held_id}"' in listed.text
    assert "alice@example.org" in listed.text and "certificate" in listed.text

    shown = root.get(f"/held/{for_erin}")
    assert shown.status_code == 200
    assert "Subject: for erin" in shown.text and ERIN in shown.text
    assert "Secret for erin" not in shown.text  # the header only, never the body

    # still no certificate for erin: the policy holds it again, the page says so, nothing reaches the sink
    token = _csrf(shown.text)
    refused = root.post(f"/held/{for_erin}/release", data={"csrf_token": token})
    assert refused.status_code == 409 and "still held for erin@partner.example" in refused.text
    assert held.sink.messages == [] and len(held.gw.gateway.pipeline.held.list()) == 3

    # her certificate imported: a plain release encrypts for her
    held.import_erin()
    released = root.post(f"/held/{for_erin}/release", data={"csrf_token": token})
    assert released.status_code == 200 and f"Released {for_erin[:12]} to {ERIN}" in released.text
    assert "encrypted" in released.text
    [copy] = held.sink.wait_for(1)
    assert copy.rcpt_tos == [ERIN] and b"Secret for erin" not in copy.data
    erin = Identity(held.org.erin.key, held.org.erin.cert, tuple(held.org.erin.chain))  # type: ignore[arg-type]
    assert b"Secret for erin" in api.decrypt(copy.data, erin)
    assert f'href="/held/{for_erin}"' not in released.text

    # unencrypted needs the confirmation ticked
    unconfirmed = root.post(f"/held/{for_dave}/release", data={"csrf_token": token, "unencrypted": "true"})
    assert unconfirmed.status_code == 400 and "tick the confirmation" in unconfirmed.text
    assert len(held.sink.messages) == 1
    sent = root.post(f"/held/{for_dave}/release",
                     data={"csrf_token": token, "unencrypted": "true", "confirm": "true"})
    assert sent.status_code == 200 and "without encryption by your decision" in sent.text
    _, plain = held.sink.wait_for(2)
    assert plain.rcpt_tos == [DAVE] and b"Plain for dave." in plain.data

    assert root.post(f"/held/{doomed}/delete", data={"csrf_token": token}).status_code == 400  # not confirmed
    deleted = root.post(f"/held/{doomed}/delete", data={"csrf_token": token, "confirm": "true"})
    assert deleted.status_code == 200 and f"Deleted held message {doomed[:12]}" in deleted.text
    assert held.gw.gateway.pipeline.held.list() == [] and "No message is held" in deleted.text
    assert len(held.sink.messages) == 2
    assert root.get(f"/held/{doomed}").status_code == 404

    # audited once each, by the console's user: the gateway records releases, the console deletions
    releases = events(held.gw.store, action="gateway.release")
    assert [(e.detail["held_id"], e.detail["unencrypted"]) for e in releases] == [(for_erin, False),
                                                                                  (for_dave, True)]
    assert all(e.actor.startswith("web:root (") for e in releases)
    [gone] = events(held.gw.store, action="gateway.held-delete")
    assert gone.actor.startswith("web:root (") and gone.detail == {"held_id": doomed, "recipients": [DAVE]}


def test_release_for_some_recipients_only(held: Held) -> None:
    root = held.console.login("root")
    both = held.hold([DAVE, ERIN], "two", "For two.\n")
    held.import_erin()
    token = _csrf(root.get(f"/held/{both}").text)
    assert 'name="only" value="erin@partner.example"' in root.get(f"/held/{both}").text
    done = root.post(f"/held/{both}/release", data={"csrf_token": token, "only": ERIN})
    assert done.status_code == 200
    [copy] = held.sink.wait_for(1)
    assert copy.rcpt_tos == [ERIN]
    [still] = held.gw.gateway.pipeline.held.list()
    assert still.id == both and still.recipients == (DAVE,)


def test_the_rest_api(held: Held) -> None:
    root = held.console.login("root")
    first = held.hold([DAVE], "api one", "One.\n")
    second = held.hold([ERIN], "api two", "Two.\n")
    headers = {"X-CSRF-Token": _csrf(root.get("/sessions").text)}

    page = root.get("/api/v1/held", params={"limit": 1})
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 2 and body["next_offset"] == 1 and len(body["items"]) == 1
    rest = root.get("/api/v1/held", params={"limit": 1, "offset": 1}).json()
    assert rest["next_offset"] is None
    items = {i["id"]: i for i in body["items"] + rest["items"]}
    assert set(items) == {first, second}  # held in the same second: in either order, each on one page
    assert items[second]["recipients"] == [ERIN] and "certificate" in items[second]["reasons"][ERIN]

    one = root.get(f"/api/v1/held/{second[:10]}").json()  # a unique prefix is enough
    assert one["id"] == second and "Subject: api two" in one["header"]
    assert "Two." not in str(one)
    missing = root.get("/api/v1/held/ffffffffffff")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"

    refused = root.post(f"/api/v1/held/{second}/release", json={}, headers=headers)
    assert refused.status_code == 400 and refused.json()["code"] == "policy-refused"
    held.import_erin()
    done = root.post(f"/api/v1/held/{second}/release", json={"only": [ERIN]}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json() == {"id": second, "recipients": [ERIN], "copies": 1, "actions": ["encrypted", "signed"],
                           "unencrypted": False}
    [copy] = held.sink.wait_for(1)
    assert b"Two." not in copy.data

    assert root.delete(f"/api/v1/held/{first}", headers=headers).status_code == 204
    assert root.get("/api/v1/held").json()["items"] == []
    assert root.delete(f"/api/v1/held/{first}", headers=headers).status_code == 404
    assert len(events(held.gw.store, action="gateway.held-delete")) == 1
    assert len(events(held.gw.store, action="gateway.release")) == 1


def test_an_auditor_reads_but_cannot_release_or_delete(held: Held) -> None:
    kept = held.hold([DAVE], "kept", "Kept.\n")
    eve = held.console.login("eve")
    listed = eve.get("/held")
    assert listed.status_code == 200 and kept in listed.text
    shown = eve.get(f"/held/{kept}")
    assert shown.status_code == 200 and "Subject: kept" in shown.text
    assert 'action="/held/' not in shown.text  # no release or delete form for an auditor
    token = _csrf(shown.text)
    headers = {"X-CSRF-Token": token}
    assert eve.get("/api/v1/held").json()["total"] == 1
    assert eve.post(f"/held/{kept}/release",
                    data={"csrf_token": token, "unencrypted": "true", "confirm": "true"}).status_code == 403
    assert eve.post(f"/held/{kept}/delete", data={"csrf_token": token, "confirm": "true"}).status_code == 403
    assert eve.post(f"/api/v1/held/{kept}/release", json={"unencrypted": True}, headers=headers).status_code == 403
    assert eve.delete(f"/api/v1/held/{kept}", headers=headers).status_code == 403
    assert [m.id for m in held.gw.gateway.pipeline.held.list()] == [kept] and held.sink.messages == []
    assert events(held.gw.store, action="gateway.release") == []


def test_without_the_gateway_the_page_says_why(console: Console) -> None:
    console.add("root")
    root = console.login("root")
    page = root.get("/held")
    assert page.status_code == 200 and "No held mail here" in page.text
    answer = root.get("/api/v1/held")
    assert answer.status_code == 404 and answer.json()["code"] == "usage"
    assert "mailseal serve" in answer.json()["detail"]
    # and the app without one still builds (the default of create_app)
    assert create_app(console.store, WebSettings(), key=b"k" * 32, hasher=FAST) is not None


def test_a_release_sent_twice_at_once_delivers_once(held: Held) -> None:
    from concurrent.futures import ThreadPoolExecutor

    root = held.console.login("root")
    once = held.hold([DAVE], "once", "Once only.\n")
    headers = {"X-CSRF-Token": _csrf(root.get("/sessions").text)}

    def release() -> int:
        return root.post(f"/api/v1/held/{once}/release", json={"unencrypted": True}, headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(lambda _: release(), range(2)))
    assert answers == [200, 404]
    held.sink.wait_for(1)
    assert len(held.sink.messages) == 1 and len(events(held.gw.store, action="gateway.release")) == 1

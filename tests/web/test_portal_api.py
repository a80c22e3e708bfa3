"""The Portal page's REST endpoints (web/api_portal.py): list with filters, one message with its accesses (never
its content), revoke and extend by an admin with the CSRF header or an admin token; auditors and read tokens only
read; an unknown id is 404."""

from __future__ import annotations

from starlette.testclient import TestClient

from mailseal.store import events
from mailseal.store.apitokens import ApiTokens
from tests.web.conftest import Console, csrf_of
from tests.web.portal_flow import BOB, CAROL
from tests.web.test_portal_console import _deposit


def test_list_show_revoke_extend_through_the_api(console: Console, root: TestClient) -> None:
    first, second = _deposit(console, [BOB]), _deposit(console, [CAROL], sender="zoe@example.org")
    listed = root.get("/api/v1/portal/messages").json()["items"]
    assert {m["id"] for m in listed} == {first, second}
    only = root.get("/api/v1/portal/messages", params={"sender": "zoe@example.org"}).json()["items"]
    assert [m["id"] for m in only] == [second]
    shown = root.get(f"/api/v1/portal/messages/{first}").json()
    assert shown["recipients"][0]["address"] == BOB and shown["state"] == "active"
    assert "portal.deposit" in [a["action"] for a in shown["accesses"]] and "content" not in shown
    headers = {"X-CSRF-Token": csrf_of(root)}
    extended = root.post(f"/api/v1/portal/messages/{first}/extend", json={"days": 30}, headers=headers).json()
    assert extended["expires"] is not None
    assert root.post(f"/api/v1/portal/messages/{first}/extend", json={"days": 731}, headers=headers).status_code == 422
    revoked = root.post(f"/api/v1/portal/messages/{first}/revoke", json={"note": "wrong file"}, headers=headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_note"] == "wrong file"
    assert [m["id"] for m in root.get("/api/v1/portal/messages", params={"state": "revoked"}).json()["items"]] == [first]
    actions = [e.action for e in events(console.store)]
    assert "portal.revoke" in actions and "portal.extend" in actions


def test_an_unknown_message_is_404_and_auditors_and_read_tokens_only_read(console: Console, root: TestClient) -> None:
    message = _deposit(console, [BOB])
    missing = root.get("/api/v1/portal/messages/nosuchmessage")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    eve = console.login("eve")
    assert eve.get(f"/api/v1/portal/messages/{message}").status_code == 200
    refused = eve.post(f"/api/v1/portal/messages/{message}/revoke", json={}, headers={"X-CSRF-Token": csrf_of(eve)})
    assert refused.status_code == 403
    read, _ = ApiTokens(console.store).create("root", "reader", "read")
    plain = console.client()
    bearer = {"Authorization": f"Bearer {read}"}
    assert plain.get("/api/v1/portal/messages", headers=bearer).status_code == 200
    assert plain.post(f"/api/v1/portal/messages/{message}/revoke", json={}, headers=bearer).status_code == 403
    write, _ = ApiTokens(console.store).create("root", "writer", "admin")
    done = plain.post(f"/api/v1/portal/messages/{message}/revoke", headers={"Authorization": f"Bearer {write}"})
    assert done.status_code == 200 and done.json()["state"] == "revoked"


def test_a_new_password_through_the_api(console: Console, root: TestClient) -> None:
    from mailseal.store.portal import PortalStore
    from mailseal.store.portal_key import portal_key

    message = _deposit(console, [BOB])
    PortalStore(console.store, portal_key()).mark_notified(message, [BOB], console.clock.now)
    assert root.get(f"/api/v1/portal/messages/{message}").json()["recipients"][0]["notified"] is not None
    given = root.post(f"/api/v1/portal/messages/{message}/password", headers={"X-CSRF-Token": csrf_of(root)})
    assert given.status_code == 200
    password = given.json()["password"]
    assert PortalStore(console.store, portal_key()).check_password(message, BOB, password)
    assert password not in root.get(f"/api/v1/portal/messages/{message}").text
    eve = console.login("eve")
    refused = eve.post(f"/api/v1/portal/messages/{message}/password", headers={"X-CSRF-Token": csrf_of(eve)})
    assert refused.status_code == 403
    assert root.post("/api/v1/portal/messages/nosuchmessage/password",
                     headers={"X-CSRF-Token": csrf_of(root)}).status_code == 404


def test_portal_accounts_through_the_api(console: Console, root: TestClient) -> None:
    from datetime import timedelta

    import pyotp

    from mailseal.store.portal_accounts import PortalAccounts, SignIn
    from mailseal.store.portal_key import portal_key

    accounts = PortalAccounts(console.store, portal_key())
    now = console.clock.now
    secret = accounts.begin_enrolment(BOB, now)
    assert accounts.enrol(BOB, "a long portal password", pyotp.TOTP(secret).at(now), now)
    listed = root.get("/api/v1/portal/accounts").json()["items"]
    assert [(a["address"], a["enrolled"]) for a in listed] == [(BOB, True)]
    assert secret not in str(listed)
    eve = console.login("eve")  # an auditor reads, never resets
    assert eve.get("/api/v1/portal/accounts").status_code == 200
    assert eve.post(f"/api/v1/portal/accounts/{BOB}/reset", headers={"X-CSRF-Token": csrf_of(eve)}).status_code == 403
    headers = {"X-CSRF-Token": csrf_of(root)}
    reset = root.post(f"/api/v1/portal/accounts/{BOB}/reset", headers=headers)
    assert reset.status_code == 200 and reset.json()["enrolled"] is False
    later = now + timedelta(seconds=30)
    assert accounts.sign_in(BOB, "a long portal password", pyotp.TOTP(secret).at(later), later) is SignIn.NONE
    assert root.delete(f"/api/v1/portal/accounts/{BOB}", headers=headers).status_code == 204
    missing = root.delete(f"/api/v1/portal/accounts/{BOB}", headers=headers)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert [e.actor.split()[0] for e in events(console.store, "portal.account-reset")] == ["web:root"]

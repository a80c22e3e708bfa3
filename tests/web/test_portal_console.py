"""The console's Portal page: the list (filters), one message with who read it when, revoke and extend by an
admin (audited, the same store functions as `mailseal portal`), and an auditor who may look but not change."""

from __future__ import annotations

from starlette.testclient import TestClient

from mailseal.store import events
from mailseal.store.portal import PortalStore
from mailseal.store.portal_key import portal_key
from tests.web.conftest import Console, csrf_of
from tests.web.portal_flow import BOB, CAROL, SENDER, original


def _deposit(console: Console, recipients: list[str], sender: str = SENDER) -> str:
    store = PortalStore(console.store, portal_key())
    return store.deposit(original(), sender, recipients, brand="example.org", now=console.clock.now).id


def test_list_filter_show_revoke_extend(console: Console, root: TestClient) -> None:
    first = _deposit(console, [BOB])
    second = _deposit(console, [CAROL], sender="zoe@example.org")
    listed = root.get("/portal")
    assert listed.status_code == 200 and first[:12] in listed.text and second[:12] in listed.text
    only = root.get("/portal", params={"sender": "zoe@example.org"})
    assert second[:12] in only.text and first[:12] not in only.text
    shown = root.get(f"/portal/{first}")
    assert shown.status_code == 200 and BOB in shown.text and "portal.deposit" in shown.text
    token = csrf_of(root)
    extended = root.post(f"/portal/{first}/extend", data={"days": "30", "csrf_token": token})
    assert extended.status_code == 303
    message = PortalStore(console.store, portal_key()).show(first, console.clock.now)
    assert message.expires is not None and (message.expires - console.clock.now).days >= 43
    revoked = root.post(f"/portal/{first}/revoke", data={"note": "wrong file", "csrf_token": token})
    assert revoked.status_code == 303
    after = root.get(f"/portal/{first}")
    assert "revoked (wrong file)" in after.text and "Revoke</button>" not in after.text
    assert root.get("/portal", params={"state": "revoked"}).text.count("<code>") == 1
    actions = [e.action for e in events(console.store)]
    assert "portal.revoke" in actions and "portal.extend" in actions
    assert root.get("/portal/nosuchmessage").status_code == 404


def test_an_auditor_sees_but_cannot_revoke(console: Console, root: TestClient) -> None:
    message_id = _deposit(console, [BOB])
    eve = console.login("eve")
    assert eve.get(f"/portal/{message_id}").status_code == 200
    token = csrf_of(eve)
    assert eve.post(f"/portal/{message_id}/revoke", data={"csrf_token": token}).status_code == 403
    assert PortalStore(console.store, portal_key()).show(message_id).state == "active"


def test_a_new_password_is_shown_once_and_notified_times_are_listed(console: Console, root: TestClient) -> None:
    import re

    message_id = _deposit(console, [BOB, CAROL])
    portal = PortalStore(console.store, portal_key())
    portal.mark_notified(message_id, [BOB], console.clock.now)
    shown = root.get(f"/portal/{message_id}")
    assert shown.text.count("not yet") == 1 and console.clock.now.strftime("%Y-%m-%d %H:%M:%S") in shown.text
    given = root.post(f"/portal/{message_id}/password", data={"csrf_token": csrf_of(root)})
    assert given.status_code == 200 and given.headers["cache-control"] == "no-store"
    found = re.search(r'id="portal-password">([A-Z2-9-]+)<', given.text)
    assert found is not None and portal.check_password(message_id, BOB, found.group(1))
    again = root.get(f"/portal/{message_id}")
    assert found.group(1) not in again.text and 'id="portal-proof">password<' in again.text
    eve = console.login("eve")  # an auditor may not
    assert eve.post(f"/portal/{message_id}/password", data={"csrf_token": csrf_of(eve)}).status_code == 403


def test_portal_accounts_page_resets_and_removes(console: Console, root: TestClient) -> None:
    import pyotp

    from mailseal.store.portal_accounts import PortalAccounts

    accounts = PortalAccounts(console.store, portal_key())
    now = console.clock.now
    secret = accounts.begin_enrolment(BOB, now)
    assert accounts.enrol(BOB, "a long portal password", pyotp.TOTP(secret).at(now), now)
    accounts.begin_enrolment(CAROL, now)
    assert 'href="/portal/accounts"' in root.get("/portal").text
    page = root.get("/portal/accounts")
    assert page.status_code == 200 and BOB in page.text and CAROL in page.text and secret not in page.text
    eve = console.login("eve")  # an auditor sees the list, without the buttons, and may not change it
    seen = eve.get("/portal/accounts")
    assert BOB in seen.text and "Reset</button>" not in seen.text
    assert eve.post("/portal/accounts/reset", data={"address": BOB, "csrf_token": csrf_of(eve)}).status_code == 403
    token = csrf_of(root)
    done = root.post("/portal/accounts/reset", data={"address": BOB, "csrf_token": token})
    assert done.status_code == 303 and not accounts.get(BOB).enrolled  # type: ignore[union-attr]
    assert root.post("/portal/accounts/remove", data={"address": CAROL, "csrf_token": token}).status_code == 303
    assert accounts.get(CAROL) is None and CAROL not in root.get("/portal/accounts").text
    assert root.post("/portal/accounts/remove", data={"address": CAROL, "csrf_token": token}).status_code == 404
    assert {e.action for e in events(console.store)} >= {"portal.account-reset", "portal.account-remove"}

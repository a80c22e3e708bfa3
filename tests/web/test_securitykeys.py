"""Security keys in the console (web/securitykeys.py) with a software authenticator: register one on
/security-keys (re-authentication, CSRF, audit), sign in with it instead of the TOTP code, and the refusals: a
replayed challenge, another origin, a counter that goes back, a locked account, another account's key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mailseal.store import events
from mailseal.store.admins import MAX_FAILURES
from mailseal.store.securitykeys import SecurityKeys
from mailseal.web.sessions import COOKIE
from tests.support.authenticator import SoftAuthenticator
from tests.web.conftest import CSRF, PASSWORD, Console, csrf_of, make_console

ORIGIN = "https://testserver"  # the TestClient's base URL, named as the console's public URL


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Console]:
    yield from make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path, public_url=ORIGIN + "/")


@pytest.fixture
def root(keyed: Console) -> TestClient:
    keyed.add("root", "admin")
    keyed.add("eve", "auditor")
    return keyed.login("root")


def register(client: TestClient, device: SoftAuthenticator, label: str = "blue key",
             origin: str = ORIGIN) -> Any:
    token = csrf_of(client)
    options = client.post("/security-keys/options", headers={"X-CSRF-Token": token})
    assert options.status_code == 200 and options.headers["content-type"] == "application/json", options.text
    return client.post("/security-keys", headers={"X-CSRF-Token": token},
                       json={"credential": device.create(options.text, origin), "label": label})


def half_signed_in(console: Console, name: str = "root") -> tuple[TestClient, str]:
    """A client past the password, and the CSRF token of the second-factor page."""
    c = console.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    assert c.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)}).status_code == 303
    page = c.get("/login/totp")
    csrf = CSRF.search(page.text)
    assert csrf is not None
    return c, csrf.group(1)


def use_key(c: TestClient, csrf: str, device: SoftAuthenticator, origin: str = ORIGIN) -> Any:
    options = c.post("/login/security-key/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    return c.post("/login/security-key", headers={"X-CSRF-Token": csrf},
                  json={"credential": device.get(options.text, origin)})


def test_register_a_key_then_sign_in_with_it(keyed: Console, root: TestClient) -> None:
    page = root.get("/security-keys")
    assert page.status_code == 200 and "You have no security key yet" in page.text and "Not usable" not in page.text
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}" src="/static/securitykeys.js" defer></script>' in page.text
    device = SoftAuthenticator()
    added = register(root, device)
    assert added.status_code == 200 and added.json() == {"next": "/security-keys"}
    listed = root.get("/security-keys").text
    assert "blue key" in listed and "usb" in listed
    event = next(e for e in events(keyed.store) if e.action == "admins.webauthn-add")
    assert event.subject == "root" and event.actor == "web:root (testclient)"
    admins = root.get("/admins").text
    assert admins.count("1 security key<") == 1  # root's; eve has none

    c, csrf = half_signed_in(keyed)
    assert "Use a security key" in c.get("/login/totp").text
    half = c.cookies.get(COOKIE)
    done = use_key(c, csrf, device)
    assert done.status_code == 200 and done.json() == {"next": "/"}
    assert c.cookies.get(COOKIE) != half  # a new session id for the signed-in session
    assert c.get("/").status_code == 200 and c.get("/security-keys").status_code == 200
    login = [e for e in events(keyed.store) if e.action == "console.login"][-1]
    assert login.detail["factor"] == "security-key"
    assert SecurityKeys(keyed.store).list("root")[0].sign_count == 1


def test_the_totp_page_offers_a_key_only_to_an_account_with_one(keyed: Console, root: TestClient) -> None:
    c, csrf = half_signed_in(keyed, "eve")
    page = c.get("/login/totp").text
    assert "Use a security key" not in page and "<script" not in page
    answer = c.post("/login/security-key/options", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 400 and "no security key" in answer.json()["error"]


def test_a_challenge_works_once(keyed: Console, root: TestClient) -> None:
    device = SoftAuthenticator()
    register(root, device)
    c, csrf = half_signed_in(keyed)
    options = c.post("/login/security-key/options", headers={"X-CSRF-Token": csrf})
    wrong = c.post("/login/security-key", headers={"X-CSRF-Token": csrf},
                   json={"credential": device.get(options.text, "https://evil.example")})
    assert wrong.status_code == 401
    # the right answer to the same challenge, now used: refused too
    replay = c.post("/login/security-key", headers={"X-CSRF-Token": csrf},
                    json={"credential": device.get(options.text, ORIGIN)})
    assert replay.status_code == 401 and c.get("/").status_code == 303
    # an answer that worked once, sent again in a new sign-in: its challenge is not this session's
    first = use_key(c, csrf, device)
    assert first.status_code == 200
    again, csrf2 = half_signed_in(keyed)
    again.post("/login/security-key/options", headers={"X-CSRF-Token": csrf2})
    stale = again.post("/login/security-key", headers={"X-CSRF-Token": csrf2},
                       json={"credential": device.get(options.text, ORIGIN)})
    assert stale.status_code == 401 and again.get("/").status_code == 303


def test_a_challenge_expires(keyed: Console, root: TestClient) -> None:
    device = SoftAuthenticator()
    register(root, device)
    c, csrf = half_signed_in(keyed)
    options = c.post("/login/security-key/options", headers={"X-CSRF-Token": csrf})
    keyed.clock.advance(minutes=3)
    late = c.post("/login/security-key", headers={"X-CSRF-Token": csrf},
                  json={"credential": device.get(options.text, ORIGIN)})
    assert late.status_code == 401


def test_wrong_origin_and_cloned_key_are_refused_and_count(keyed: Console, root: TestClient) -> None:
    device = SoftAuthenticator()
    refused = register(root, device, origin="https://evil.example")
    assert refused.status_code == 400 and "origin" in refused.json()["error"]
    assert register(root, device).status_code == 200
    c, csrf = half_signed_in(keyed)
    assert use_key(c, csrf, device, origin="http://testserver").status_code == 401
    device.sign_count = 10
    assert use_key(c, csrf, device).status_code == 200
    clone = SoftAuthenticator(key=device.key, credential_id=device.credential_id, sign_count=4)
    c2, csrf2 = half_signed_in(keyed)
    answer = use_key(c2, csrf2, clone)
    assert answer.status_code == 401 and answer.json()["error"].startswith("The name, password or code")
    failures = [e for e in events(keyed.store) if e.action == "console.login-failed"]
    assert len(failures) == 2 and all(e.detail["factor"] == "security-key" for e in failures)


def test_failed_keys_lock_the_account(keyed: Console, root: TestClient) -> None:
    device = SoftAuthenticator()
    register(root, device)
    c, csrf = half_signed_in(keyed)
    for _ in range(MAX_FAILURES):
        assert use_key(c, csrf, SoftAuthenticator(credential_id=device.credential_id)).status_code == 401
    record = keyed.admins.get("root")
    assert record is not None and record.locked_until is not None
    assert use_key(c, csrf, device).status_code == 401  # the right key, but locked


def test_another_accounts_key_does_not_open_this_one(keyed: Console, root: TestClient) -> None:
    device = SoftAuthenticator()
    register(root, device)
    eve = keyed.login("eve")
    register(eve, SoftAuthenticator())  # any role registers its own keys
    c, csrf = half_signed_in(keyed, "eve")
    assert use_key(c, csrf, device).status_code == 401


def test_the_page_needs_the_password_again(keyed: Console, root: TestClient) -> None:
    keyed.clock.advance(minutes=6)
    asked = root.get("/security-keys")
    assert asked.status_code == 303 and asked.headers["location"] == "/reauth?next=/security-keys"
    token = csrf_of(root)
    posted = root.post("/security-keys/options", headers={"X-CSRF-Token": token})
    assert posted.status_code == 303 and posted.headers["location"] == "/reauth?next=/security-keys"
    assert root.post("/reauth", data={"password": PASSWORD, "next": "/security-keys",
                                      "csrf_token": token}).status_code == 303
    assert register(root, SoftAuthenticator()).status_code == 200


def test_remove_a_key(keyed: Console, root: TestClient) -> None:
    register(root, SoftAuthenticator(), label="old key")
    key = SecurityKeys(keyed.store).list("root")[0]
    eve = keyed.login("eve")
    refused = eve.post(f"/security-keys/{key.id}/remove", data={"csrf_token": csrf_of(eve)})
    assert refused.status_code == 404 and SecurityKeys(keyed.store).count("root") == 1
    gone = root.post(f"/security-keys/{key.id}/remove", data={"csrf_token": csrf_of(root)})
    assert gone.status_code == 303 and gone.headers["location"] == "/security-keys"
    assert SecurityKeys(keyed.store).count("root") == 0
    event = next(e for e in events(keyed.store) if e.action == "admins.webauthn-remove")
    assert event.detail["label"] == "old key" and event.actor == "web:root (testclient)"


def test_an_address_as_relying_party_is_named_a_problem(tmp_path: Path) -> None:
    for console in make_console(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, public_url="https://192.0.2.7/"):
        console.add("root")
        page = console.login("root").get("/security-keys")
        assert page.status_code == 200 and "Not usable here" in page.text


def test_the_relying_party_comes_from_public_url_or_the_listener() -> None:
    from mailseal.errors import ConfigurationError
    from mailseal.web.settings import WebSettings, parse_web

    settings = WebSettings(port=9443)
    assert (settings.rp_id, settings.origin) == ("localhost", "http://localhost:9443")
    assert WebSettings(host="192.0.2.7", tls_cert=Path("c.pem")).origin == "https://192.0.2.7:8443"
    assert WebSettings(host="::1", port=9443).origin == "http://localhost:9443"
    public = parse_web({"web": {"public_url": "https://Console.Example.org:443/mailseal/"}})
    assert (public.rp_id, public.origin) == ("console.example.org", "https://console.example.org")
    assert parse_web({"web": {"public_url": "https://c.example:8444"}}).origin == "https://c.example:8444"
    for bad in ("http://console.example.org/", "ftp://c.example/", "https://", "https://u:p@c.example/",
                "https://c.example/?q=1", "https://c.example:x/", 443):
        with pytest.raises(ConfigurationError, match="public_url"):
            parse_web({"web": {"public_url": bad}})


def test_the_api_lists_keys_and_an_admin_removes_a_lost_one(keyed: Console, root: TestClient) -> None:
    register(root, SoftAuthenticator(), label="lost key")
    eve = keyed.login("eve")
    register(eve, SoftAuthenticator(), label="eve's key")
    listed = root.get("/api/v1/admins/eve/security-keys")
    assert listed.status_code == 200 and [k["label"] for k in listed.json()["items"]] == ["eve's key"]
    assert "public_key" not in listed.text
    assert eve.get("/api/v1/admins/eve/security-keys").status_code == 200
    assert eve.get("/api/v1/admins/root/security-keys").status_code == 403  # an auditor: their own only
    assert root.get("/api/v1/admins/nobody/security-keys").status_code == 404
    key = root.get("/api/v1/admins/root/security-keys").json()["items"][0]
    path = f"/api/v1/admins/root/security-keys/{key['id']}"
    assert eve.delete(path, headers={"X-CSRF-Token": csrf_of(eve)}).status_code == 403
    assert root.delete(path, headers={"X-CSRF-Token": csrf_of(root)}).status_code == 204
    assert root.delete(path, headers={"X-CSRF-Token": csrf_of(root)}).status_code == 404
    assert SecurityKeys(keyed.store).list("root") == []

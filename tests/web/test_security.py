"""The console's safety rules (OWASP ASVS L2), checked against every route the application has, so that a route
added later is covered without anyone remembering to: CSRF, roles, lock-out, sessions, headers, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from mailseal.store import events
from mailseal.store.admins import LOCKOUT, MAX_FAILURES
from mailseal.store.apitokens import ApiTokens
from mailseal.web.app import create_app
from mailseal.web.security import CSP
from mailseal.web.sessions import COOKIE
from tests.web.conftest import CSRF, FAST, PASSWORD, Console, csrf_of

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: Routes anyone may use on their own behalf (signing in and out): every other change needs the admin role.
SELF_SERVICE = {"/login", "/login/totp", "/logout", "/reauth", "/login/security-key/options", "/login/security-key",
                "/security-keys/options", "/security-keys", "/security-keys/1/remove"}
#: POSTs that change nothing (they carry a message to read, or a body too big for a query): auditors and read
#: tokens may use them; CSRF still holds.
#: POSTs that change nothing (a verification, the policy tester, a revocation check: outbound requests, audited).
READ_ONLY_POSTS = {"/verify", "/api/v1/verify", "/api/v1/policy/test", "/policy/test", "/certificates/someone/revocation",
                   "/api/v1/certificates/someone/revocation"}


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every endpoint of the application. FastAPI 0.165 wraps an included router (``original_router``); the
    routers of the console carry their prefix themselves, so the paths are complete."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def _routes(console: Console, methods: set[str]) -> list[tuple[str, str]]:
    found = []
    for route in api_routes(console.app.routes):
        path = re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("id") else "someone", route.path)
        found += [(method, path) for method in sorted(route.methods & methods)]
    return found


def _changing(console: Console) -> list[tuple[str, str]]:
    routes = _routes(console, CHANGING)
    assert len(routes) >= 10  # the enumeration itself works
    return routes


def test_every_state_changing_route_needs_the_csrf_token(console: Console, root: TestClient) -> None:
    for method, path in _changing(console):
        for headers in ({}, {"X-CSRF-Token": "wrong"}):
            answer = root.request(method, path, headers=headers, data={"csrf_token": "wrong"}
                                  if method == "POST" and not path.startswith("/api") else None)
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text[:200])
    # and nothing changed: the accounts are as they were
    assert sorted(a.name for a in console.admins.list()) == ["eve", "root"]


def test_no_route_changes_state_on_get(console: Console) -> None:
    routes = list(api_routes(console.app.routes))
    assert len(routes) >= 20
    for route in routes:
        if "GET" in route.methods:
            assert not route.methods & CHANGING, route.path


def test_an_auditor_cannot_change_anything(console: Console, root: TestClient) -> None:
    eve = console.login("eve")
    token = csrf_of(eve)
    for method, path in _changing(console):
        if path in SELF_SERVICE | READ_ONLY_POSTS:
            continue
        is_form = method == "POST" and not path.startswith("/api")
        answer = eve.request(method, path, headers={"X-CSRF-Token": token},
                             data={"csrf_token": token} if is_form else None)
        assert answer.status_code == 403, (method, path, answer.status_code)
    assert sorted(a.name for a in console.admins.list()) == ["eve", "root"]
    assert console.store and eve.get("/").status_code == 200  # still signed in: only refused


def test_a_read_token_cannot_change_and_an_admin_token_can(console: Console, root: TestClient) -> None:
    tokens = ApiTokens(console.store)
    read, _ = tokens.create("root", "reader", "read")
    write, _ = tokens.create("root", "writer", "admin")
    plain = console.client()
    for method, path in _changing(console):
        if path.startswith("/api") and path not in READ_ONLY_POSTS:
            answer = plain.request(method, path, headers={"Authorization": f"Bearer {read}"})
            assert answer.status_code == 403, (method, path)
    listed = plain.get("/api/v1/admins", headers={"Authorization": f"Bearer {read}"})
    assert listed.status_code == 200 and {a["name"] for a in listed.json()["items"]} == {"eve", "root"}
    added = plain.post("/api/v1/admins", json={"name": "bot", "role": "auditor"},
                       headers={"Authorization": f"Bearer {write}"})
    assert added.status_code == 201 and len(added.json()["password"]) >= 20
    assert plain.get("/api/v1/admins", headers={"Authorization": "Bearer mst_nonsense"}).status_code == 401
    # a bearer token is for the API only: a page ignores it
    assert plain.get("/", headers={"Authorization": f"Bearer {read}"}).status_code == 303


def test_cookie_api_calls_need_the_csrf_header(console: Console, root: TestClient) -> None:
    body = {"label": "mine", "scope": "read"}
    assert root.post("/api/v1/tokens", json=body).status_code == 403
    made = root.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf_of(root)})
    assert made.status_code == 201 and made.json()["token"].startswith("mst_")


def test_lock_out_after_repeated_failures(console: Console) -> None:
    console.add("root")
    c = console.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    texts = set()
    for _ in range(MAX_FAILURES):
        answer = c.post("/login", data={"name": "root", "password": "wrong password!", "csrf_token": token.group(1)})
        assert answer.status_code == 401
        texts.add(answer.text.split("<strong>Error:</strong>")[1].split("<")[0])
    right = c.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": token.group(1)})
    assert right.status_code == 401  # locked: the right password is refused, with the same words
    texts.add(right.text.split("<strong>Error:</strong>")[1].split("<")[0])
    unknown = c.post("/login", data={"name": "nobody", "password": PASSWORD, "csrf_token": token.group(1)})
    texts.add(unknown.text.split("<strong>Error:</strong>")[1].split("<")[0])
    assert len(texts) == 1
    record = console.admins.get("root")
    assert record is not None and record.locked_until is not None
    console.clock.advance(seconds=LOCKOUT.total_seconds() + 1)
    console.login("root")
    assert "admins.locked" in [e.action for e in events(console.store)]


def test_wrong_totp_codes_count_toward_the_lock_out(console: Console) -> None:
    console.add("root")
    c = console.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    c.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": token.group(1)})
    csrf = CSRF.search(c.get("/login/totp").text)
    assert csrf is not None
    for _ in range(MAX_FAILURES):
        assert c.post("/login/totp", data={"code": "000000", "csrf_token": csrf.group(1)}).status_code == 401
    record = console.admins.get("root")
    assert record is not None and record.locked_until is not None


def test_a_new_session_id_at_each_login_step(console: Console) -> None:
    console.add("root")
    c = console.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    c.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": token.group(1)})
    half = c.cookies.get(COOKIE)
    console.login("root", c)
    full = c.cookies.get(COOKIE)
    assert half and full and half != full
    stale = console.client()
    stale.cookies.set(COOKIE, half)
    assert stale.get("/").status_code == 303


def test_the_password_step_alone_opens_nothing(console: Console) -> None:
    console.add("root")
    c = console.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    c.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": token.group(1)})
    assert c.get("/").status_code == 303 and c.get("/api/v1/admins").status_code == 401


def test_logout_ends_the_session_server_side(console: Console, root: TestClient) -> None:
    raw = root.cookies.get(COOKIE)
    assert raw
    assert root.post("/logout", data={"csrf_token": csrf_of(root)}).status_code == 303
    again = console.client()
    again.cookies.set(COOKIE, raw)  # the old cookie, kept by an attacker: worth nothing now
    assert again.get("/").headers["location"] == "/login"
    assert again.get("/api/v1/dashboard").status_code == 401


def test_idle_and_absolute_timeouts(console: Console, root: TestClient) -> None:
    console.clock.advance(minutes=14)
    assert root.get("/").status_code == 200
    console.clock.advance(minutes=16)
    assert root.get("/").status_code == 303  # idle for 16 minutes
    busy = console.login("root")
    for _ in range(8 * 5):
        console.clock.advance(minutes=14)
        if busy.get("/sessions").status_code != 200:
            break
    assert busy.get("/").status_code == 303  # never idle, but 8 hours passed


def test_end_all_sessions(console: Console, root: TestClient) -> None:
    eve = console.login("eve")
    answer = root.post("/sessions/end-all", data={"csrf_token": csrf_of(root)})
    assert answer.status_code == 303
    assert root.get("/").status_code == 303 and eve.get("/").status_code == 303


def test_sensitive_changes_need_the_password_again(console: Console, root: TestClient) -> None:
    console.clock.advance(minutes=6)
    token = csrf_of(root)
    asked = root.post("/admins", data={"name": "bob", "role": "auditor", "csrf_token": token})
    assert asked.status_code == 303 and asked.headers["location"] == "/reauth?next=/admins"
    assert 'name="next" value="/admins"' in root.get(asked.headers["location"]).text
    assert console.admins.get("bob") is None
    wrong = root.post("/reauth", data={"password": "not my password", "next": "/admins", "csrf_token": token})
    assert wrong.status_code == 401
    ok = root.post("/reauth", data={"password": PASSWORD, "next": "https://evil.example/", "csrf_token": token})
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never off-site
    added = root.post("/admins", data={"name": "bob", "role": "auditor", "csrf_token": token})
    assert added.status_code == 200 and 'id="new-password"' in added.text
    event = next(e for e in events(console.store) if e.action == "admins.add" and e.subject == "bob")
    assert event.actor == "web:root (testclient)"  # who, from where; when is the event's time


def test_session_cookie_attributes(console: Console) -> None:
    console.add("root")
    c = console.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    answer = c.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": token.group(1)})
    cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}="))
    attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= set(attributes)
    assert attributes["samesite"].strip().lower() == "samesite=strict" and attributes["path"].strip() == "Path=/"
    assert "domain" not in attributes


def _csp_ok(answer: object) -> None:
    headers = answer.headers  # type: ignore[attr-defined]
    policy = headers["content-security-policy"]
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]{16,})'", policy)
    assert nonce is not None and policy == CSP.format(nonce=nonce.group(1))
    assert "unsafe" not in policy
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"


def test_headers_on_every_page_signed_in_or_not(console: Console, root: TestClient) -> None:
    plain = console.client()
    paths = [p for _, p in _routes(console, {"GET"})] + ["/no/such/page", "/api/v1/nothing"]
    nonces = set()
    for client in (root, plain):
        for path in paths:
            answer = client.get(path)
            _csp_ok(answer)
            nonces.add(answer.headers["content-security-policy"])
            assert "Strict-Transport-Security" not in answer.headers  # no TLS here
            assert "style=" not in answer.text
            # a script only from this console, carrying this response's nonce (the security keys' script)
            nonce = re.search(r"'nonce-([^']+)'", answer.headers["content-security-policy"])
            assert nonce is not None
            for tag in re.findall(r"<script[^>]*>", answer.text):
                assert tag == f'<script nonce="{nonce.group(1)}" src="/static/securitykeys.js" defer>', tag
    assert len(nonces) == 2 * len(paths)  # a fresh nonce each time


def test_hsts_with_tls(console: Console, tmp_path: object) -> None:
    from mailseal.web.settings import WebSettings

    settings = WebSettings()
    object.__setattr__(settings, "tls_cert", tmp_path)
    app = create_app(console.store, settings, key=b"k" * 32, hasher=FAST)
    answer = TestClient(app, base_url="https://testserver").get("/login")
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_errors_are_problems_under_the_api_and_pages_elsewhere(console: Console, root: TestClient) -> None:
    missing = root.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {"type": "about:blank", "title": "Not Found", "status": 404}
    invalid = root.get("/api/v1/audit", params={"limit": 0})
    assert invalid.status_code == 422 and invalid.json()["code"] == "usage"
    wrong_method = root.put("/api/v1/dashboard", headers={"X-CSRF-Token": csrf_of(root)})
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
    page = root.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html") and "404" in page.text
    bad_time = root.get("/api/v1/audit", params={"since": "yesterday"})
    assert bad_time.status_code == 422 and bad_time.json()["code"] == "usage"
    bad_page = root.get("/audit", params={"since": "yesterday"})
    assert bad_page.status_code == 400 and "is not a time" in bad_page.text


def test_an_unexpected_error_shows_no_traceback(console: Console, root: TestClient) -> None:
    broken = APIRouter()

    @broken.get("/api/v1/broken")
    def fail() -> None:
        raise RuntimeError("secret internals")

    app = create_app(console.store, key=b"k" * 32, hasher=FAST, routers=[broken])
    answer = TestClient(app, base_url="https://testserver", raise_server_exceptions=False).get("/api/v1/broken")
    assert answer.status_code == 500 and answer.json()["status"] == 500
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    _csp_ok(answer)


@pytest.mark.parametrize("path", ["/", "/audit", "/admins", "/sessions"])
def test_pages_need_a_session(console: Console, path: str) -> None:
    answer = console.client().get(path)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_idle_timeout_is_a_setting(tmp_path: object) -> None:
    from mailseal.web.settings import parse_web

    parsed = parse_web({"web": {"idle_timeout": 60, "absolute_timeout": 600}})
    assert parsed.idle_timeout == timedelta(minutes=1) and parsed.absolute_timeout == timedelta(minutes=10)

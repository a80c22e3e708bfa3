"""The Users page and /api/v1/users: SMTP submission accounts added, changed and removed by an admin; the account
then authenticates as the gateway's SMTP AUTH does (``Users.authenticate``); every change audited once with the
console's actor; an auditor reads but changes nothing; the password hash is never in any response."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from mailseal.store import events
from mailseal.store.models import SubmissionUser
from mailseal.store.users import Users
from tests.support.postgres import drop_database, fresh_database, postgres_url
from tests.web.conftest import CSRF, Console, csrf_of, make_console

__all__ = ["postgres_url"]

NEW_PASSWORD = re.compile(r'id="new-password">([^<]+)<')
TYPED = "typed password 1234"


def _hashes(console: Console) -> list[str]:
    with console.store.reading() as session:
        return [row.password_hash for row in session.query(SubmissionUser)]


def _no_hash_in(text: str, console: Console) -> None:
    assert "scrypt$" not in text
    for encoded in _hashes(console):
        assert encoded not in text and encoded.split("$")[-1] not in text


def test_add_through_the_page_then_authenticate(console: Console, root: TestClient) -> None:
    token = csrf_of(root)
    page = root.post("/users", data={"username": "mailer", "addresses": "Mailer@Example.org, sales@example.org",
                                     "password": "", "csrf_token": token})
    assert page.status_code == 200, page.text
    shown = NEW_PASSWORD.search(page.text)
    assert shown is not None
    password = shown.group(1)
    accounts = Users(console.store)
    assert accounts.authenticate("mailer", password.encode()) is not None
    assert accounts.authenticate("mailer", b"not the password") is None
    listed = root.get("/users")
    assert "mailer" in listed.text and "sales@example.org" in listed.text and "✓ enabled" in listed.text
    assert password not in listed.text  # shown once, on the answer to the form only
    _no_hash_in(page.text + listed.text, console)
    added = events(console.store, "users.add")
    assert len(added) == 1 and added[0].actor.startswith("web:root") and added[0].subject == "mailer"


def test_a_refused_form_says_why(console: Console, root: TestClient) -> None:
    answer = root.post("/users", data={"username": "short", "addresses": "s@example.org", "password": "tiny",
                                       "csrf_token": csrf_of(root)})
    assert answer.status_code == 400 and "too short" in answer.text and 'value="short"' in answer.text
    assert Users(console.store).get("short") is None and events(console.store, "users.add") == []


def test_the_api_changes_each_thing_once_audited(console: Console, root: TestClient) -> None:
    h = {"X-CSRF-Token": csrf_of(root)}
    accounts = Users(console.store)
    made = root.post("/api/v1/users", json={"username": "app", "addresses": ["app@example.org"],
                                            "password": TYPED}, headers=h)
    assert made.status_code == 201, made.text
    assert made.json()["password"] is None and made.json()["addresses"] == ["app@example.org"]
    assert accounts.authenticate("app", TYPED.encode()) is not None
    assert root.post("/api/v1/users", json={"username": "app", "addresses": ["x@example.org"]},
                     headers=h).status_code == 409

    changed = root.post("/api/v1/users/app/addresses", json={"addresses": ["a@example.org", "b@example.org"]},
                        headers=h)
    assert changed.status_code == 200 and changed.json()["addresses"] == ["a@example.org", "b@example.org"]
    record = accounts.get("app")
    assert record is not None and record.may_use("b@example.org") and not record.may_use("app@example.org")

    reset = root.post("/api/v1/users/app/password", json={}, headers=h)
    assert reset.status_code == 200
    new = reset.json()["password"]
    assert isinstance(new, str) and len(new) >= 12
    assert accounts.authenticate("app", TYPED.encode()) is None  # the old one fails
    assert accounts.authenticate("app", new.encode()) is not None

    assert root.post("/api/v1/users/app/disable", headers=h).json()["disabled"] is True
    assert accounts.authenticate("app", new.encode()) is None
    assert root.post("/api/v1/users/app/enable", headers=h).json()["disabled"] is False
    assert accounts.authenticate("app", new.encode()) is not None

    one = root.get("/api/v1/users/app")
    assert one.status_code == 200 and one.json()["last_login"] is not None
    listed = root.get("/api/v1/users")
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["username"] == "app"
    _no_hash_in(made.text + changed.text + reset.text + one.text + listed.text, console)
    for response in (made, changed, reset, one, listed):
        assert "password_hash" not in response.text

    assert root.delete("/api/v1/users/app", headers=h).status_code == 204
    assert root.get("/api/v1/users/app").status_code == 404
    assert root.delete("/api/v1/users/app", headers=h).status_code == 404
    assert accounts.authenticate("app", new.encode()) is None
    actions = [e.action for e in events(console.store) if e.action.startswith("users.")]
    assert actions == ["users.add", "users.addresses", "users.password", "users.disable", "users.disable",
                       "users.remove"]
    assert all(e.actor.startswith("web:root") for e in events(console.store) if e.action.startswith("users."))


def test_the_page_buttons(console: Console, root: TestClient) -> None:
    token = csrf_of(root)
    Users(console.store).add("desk", TYPED.encode(), ["desk@example.org"])
    assert root.post("/users/desk/addresses", data={"addresses": "front@example.org desk@example.org",
                                                    "csrf_token": token}).status_code == 303
    assert Users(console.store).get("desk").addresses == ("front@example.org", "desk@example.org")  # type: ignore[union-attr]
    reset = root.post("/users/desk/password", data={"csrf_token": token})
    shown = NEW_PASSWORD.search(reset.text)
    assert reset.status_code == 200 and shown is not None
    assert Users(console.store).authenticate("desk", shown.group(1).encode()) is not None
    assert root.post("/users/desk/disable", data={"csrf_token": token}).status_code == 303
    assert "✗ disabled" in root.get("/users").text
    assert root.post("/users/desk/enable", data={"csrf_token": token}).status_code == 303
    assert root.post("/users/desk/remove", data={"csrf_token": token}).status_code == 303
    assert Users(console.store).get("desk") is None
    assert root.post("/users/desk/remove", data={"csrf_token": token}).status_code == 404


def test_paging(console: Console, root: TestClient) -> None:
    accounts = Users(console.store, scrypt={"n": 2**10, "r": 8, "p": 1})
    for i in range(5):
        accounts.add(f"u{i}", TYPED.encode(), [f"u{i}@example.org"])
    first = root.get("/api/v1/users", params={"limit": 2}).json()
    assert [u["username"] for u in first["items"]] == ["u0", "u1"] and first["next_offset"] == 2
    last = root.get("/api/v1/users", params={"limit": 2, "offset": 4}).json()
    assert [u["username"] for u in last["items"]] == ["u4"] and last["next_offset"] is None
    assert root.get("/api/v1/users", params={"offset": 2**40}).status_code == 422
    assert 'href="/users?offset=' not in root.get("/users").text  # one page of 50 holds all five


def test_an_auditor_reads_and_changes_nothing(console: Console, root: TestClient) -> None:
    Users(console.store).add("kept", TYPED.encode(), ["kept@example.org"])
    eve = console.login("eve")
    token = csrf_of(eve)
    h = {"X-CSRF-Token": token}
    page = eve.get("/users")
    assert page.status_code == 200 and "kept" in page.text and "Add an account" not in page.text
    assert eve.get("/api/v1/users").json()["total"] == 1
    assert eve.post("/api/v1/users", json={"username": "x", "addresses": ["x@example.org"]}, headers=h
                    ).status_code == 403
    for what in ("addresses", "password", "disable", "enable"):
        assert eve.post(f"/api/v1/users/kept/{what}", json={"addresses": ["y@example.org"]}, headers=h
                        ).status_code == 403
    assert eve.delete("/api/v1/users/kept", headers=h).status_code == 403
    for what in ("password", "disable", "remove"):
        assert eve.post(f"/users/kept/{what}", data={"csrf_token": token}).status_code == 403
    assert eve.post("/users", data={"username": "x", "addresses": "x@example.org", "csrf_token": token}
                    ).status_code == 403
    kept = Users(console.store).get("kept")
    assert kept is not None and not kept.disabled and Users(console.store).get("x") is None
    assert [e.action for e in events(console.store) if e.action.startswith("users.")] == ["users.add"]


@pytest.fixture
def pg_console(postgres_url: str, tmp_path: Path) -> Iterator[Console]:
    url, name = fresh_database(postgres_url)
    try:
        yield from make_console(url, tmp_path)
    finally:
        drop_database(postgres_url, name)


def test_users_on_postgresql(pg_console: Console) -> None:
    pg_console.add("root")
    client = pg_console.login("root")
    h = {"X-CSRF-Token": csrf_of(client)}
    made = client.post("/api/v1/users", json={"username": "pg", "addresses": ["pg@example.org"]}, headers=h)
    assert made.status_code == 201, made.text
    password = made.json()["password"]
    accounts = Users(pg_console.store)
    assert accounts.authenticate("pg", password.encode()) is not None
    assert client.post("/api/v1/users/pg/addresses", json={"addresses": ["pg2@example.org"]},
                       headers=h).json()["addresses"] == ["pg2@example.org"]
    assert client.get("/api/v1/users").json()["items"][0]["last_login"] is not None
    assert client.delete("/api/v1/users/pg", headers=h).status_code == 204
    assert accounts.get("pg") is None
    assert [e.action for e in events(pg_console.store) if e.action.startswith("users.")] == [
        "users.add", "users.addresses", "users.remove"]
    assert CSRF.search(client.get("/users").text) is not None


@pytest.mark.parametrize("name", ["ops/desk", "q?x#y", "a/disable"])
def test_names_that_look_like_paths(console: Console, root: TestClient, name: str) -> None:
    """A user name may hold / ? # (the store allows any printable name without spaces): the page's forms and
    the API reach that account and no other."""
    accounts = Users(console.store, scrypt={"n": 2**10, "r": 8, "p": 1})
    accounts.add(name, TYPED.encode(), ["n@example.org"])
    accounts.add("ops", TYPED.encode(), ["ops@example.org"])
    token = csrf_of(root)
    rows = root.get("/users").text.split("<tr>")
    row = next(r for r in rows if r.startswith(f"<td>{html.escape(name)}</td>"))
    action = re.search(r'action="(/users/[^"]+)/disable"', row)
    assert action is not None
    assert root.post(f"{action.group(1)}/disable", data={"csrf_token": token}).status_code == 303
    got = accounts.get(name)
    assert got is not None and got.disabled
    one = root.get(f"/api/v1/users/{quote(name, safe='')}")
    assert one.status_code == 200 and one.json()["username"] == name and one.json()["disabled"] is True
    moved = root.post(f"/api/v1/users/{quote(name, safe='')}/addresses", json={"addresses": ["m@example.org"]},
                      headers={"X-CSRF-Token": token})
    assert moved.status_code == 200 and moved.json()["username"] == name
    ops = accounts.get("ops")
    assert ops is not None and not ops.disabled and ops.addresses == ("ops@example.org",)

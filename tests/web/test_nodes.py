"""Two console nodes over one store (SQLite and PostgreSQL): a session made on one is good on the other, a logout
on one ends it on both, and a lock-out earned on one holds on the other (nothing lives in one process's memory)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailseal.store import Store
from mailseal.store.admins import MAX_FAILURES, Admins
from mailseal.web.app import create_app
from mailseal.web.sessions import COOKIE
from tests.store.conftest import store_url
from tests.support.postgres import postgres_url
from tests.web.conftest import CSRF, FAST, PASSWORD, Clock, Console

__all__ = ["postgres_url", "store_url"]


@pytest.fixture
def nodes(store_url: str) -> Iterator[tuple[Console, Console]]:
    key, clock = secrets.token_bytes(32), Clock()
    stores = [Store.open(store_url), Store.open(store_url)]
    try:
        yield tuple(Console(s, create_app(s, key=key, hasher=FAST, clock=clock, ca_directory=Path("/nonexistent")),
                            clock, Admins(s, hasher=FAST, totp_key=key)) for s in stores)  # type: ignore[return-value]
    finally:
        for s in stores:
            s.close()


def test_a_session_is_good_on_every_node(nodes: tuple[Console, Console]) -> None:
    one, two = nodes
    one.add("root")
    signed_in = one.login("root")
    other = two.client()
    other.cookies.set(COOKIE, str(signed_in.cookies.get(COOKIE)))
    assert other.get("/").status_code == 200
    csrf = CSRF.search(other.get("/sessions").text)
    assert csrf is not None
    assert other.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
    assert signed_in.get("/").status_code == 303  # ended on the node where it began, too


def test_a_lock_out_holds_on_every_node(nodes: tuple[Console, Console]) -> None:
    one, two = nodes
    one.add("root")
    for _ in range(MAX_FAILURES):
        c = one.client()
        token = CSRF.search(c.get("/login").text)
        assert token is not None
        c.post("/login", data={"name": "root", "password": "wrong password!", "csrf_token": token.group(1)})
    c = two.client()
    token = CSRF.search(c.get("/login").text)
    assert token is not None
    refused = c.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": token.group(1)})
    assert refused.status_code == 401


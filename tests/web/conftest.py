"""Console fixtures: a store (SQLite, or PostgreSQL where a test asks), the app over it with cheap argon2id and a
clock the test moves, accounts, and a signed-in client (password, then a TOTP code computed with pyotp)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from starlette.testclient import TestClient

from mailseal.store import Store
from mailseal.store.admins import Admins
from mailseal.web.app import create_app
from mailseal.web.settings import WebSettings

PASSWORD = "a long enough secret 42"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Console:
    store: Store
    app: FastAPI
    clock: Clock
    admins: Admins
    secrets: dict[str, str] = field(default_factory=dict)

    def client(self) -> TestClient:
        # https: the __Host- cookies are Secure, and a client sends them over TLS only (or to loopback).
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)

    def add(self, name: str, role: str = "admin") -> None:
        self.admins.add(name, PASSWORD, role, actor="test")

    def login(self, name: str, client: TestClient | None = None) -> TestClient:
        """A client signed in as ``name`` with both factors (enrolling the second one the first time)."""
        c = client or self.client()
        form = c.get("/login")
        token = CSRF.search(form.text)
        assert token is not None
        answer = c.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)})
        assert answer.status_code == 303, answer.text
        page = c.get("/login/totp")
        shown = SECRET.search(page.text)
        if shown is not None:
            self.secrets[name] = shown.group(1)
        csrf = CSRF.search(page.text)
        assert csrf is not None
        # each code works once: a second login in the same 30 s step needs the next step's code
        self.clock.advance(seconds=30)
        code = pyotp.TOTP(self.secrets[name]).at(self.clock.now)
        done = c.post("/login/totp", data={"code": code, "csrf_token": csrf.group(1)})
        assert done.status_code == 303 and done.headers["location"] == "/", done.text
        return c


def csrf_of(client: TestClient) -> str:
    found = CSRF.search(client.get("/sessions").text)
    assert found is not None
    return found.group(1)


def make_console(url: str, tmp_path: Path, **settings: object) -> Iterator[Console]:
    store = Store.open(url)
    clock = Clock()
    key = secrets.token_bytes(32)
    app = create_app(store, WebSettings(**settings), key=key, hasher=FAST, clock=clock,  # type: ignore[arg-type]
                     ca_directory=tmp_path / "no-ca")
    try:
        yield Console(store, app, clock, Admins(store, hasher=FAST, totp_key=key))
    finally:
        store.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    yield from make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path)


@pytest.fixture
def root(console: Console) -> TestClient:
    """A client signed in as the admin ``root`` (an auditor ``eve`` exists too)."""
    console.add("root", "admin")
    console.add("eve", "auditor")
    return console.login("root")


@pytest.fixture
def flow(tmp_path: Path) -> Iterator[object]:
    """The recipient portal over a store with one message deposited for two outside recipients
    (``tests/web/portal_flow.py``)."""
    from tests.web.portal_flow import make_flow

    yield from make_flow(f"sqlite:///{tmp_path / 'mailseal.db'}")

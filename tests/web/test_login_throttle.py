"""The per-address login throttle ([web].login_failures_per_address): failures from one client address over
several accounts are refused with 429 and Retry-After until the window ends, counted in the store so that two
console nodes count together; the answer names no account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mailseal.store import events
from mailseal.web.app import create_app
from mailseal.web.settings import WebSettings
from tests.web.conftest import CSRF, FAST, PASSWORD, Console, make_console


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Console]:
    yield from make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path, login_failures_per_address=3,
                            login_failure_window=timedelta(minutes=10))


def _try(client: TestClient, name: str, password: str) -> tuple[int, str, str | None]:
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    answer = client.post("/login", data={"name": name, "password": password, "csrf_token": token.group(1)})
    return answer.status_code, answer.text, answer.headers.get("retry-after")


def test_an_address_guessing_many_accounts_is_refused_until_the_window_ends(limited: Console) -> None:
    for name in ("root", "eve", "mallory"):
        limited.add(name)
    client = limited.client()
    assert [_try(client, n, "wrong password!")[0] for n in ("root", "eve", "mallory")] == [401, 401, 401]
    status, text, retry = _try(client, "root", PASSWORD)  # the right password too: the address is refused
    assert status == 429 and retry is not None and 0 < int(retry) <= 600
    assert "Too many failed sign-ins from your address" in text and "root" not in text.split("<main")[-1]
    assert limited.admins.get("root") is not None and limited.admins.get("root").failed_logins == 1  # type: ignore[union-attr]
    throttled = [e for e in events(limited.store) if e.action == "console.login-throttled"]
    assert len(throttled) == 1 and throttled[0].detail["client"] == "testclient"
    limited.clock.advance(minutes=10)
    assert _try(client, "root", PASSWORD)[0] == 303


def test_two_console_nodes_count_together(limited: Console, tmp_path: Path) -> None:
    limited.add("root")
    # the same settings as the first node (windows are aligned on their length: every node must use the same one)
    other = create_app(limited.store, WebSettings(login_failures_per_address=3,
                                                  login_failure_window=timedelta(minutes=10)), key=b"k" * 32,
                       hasher=FAST,
                       clock=limited.clock, ca_directory=tmp_path / "no-ca")
    second = TestClient(other, base_url="https://testserver", follow_redirects=False)
    assert _try(limited.client(), "root", "wrong password!")[0] == 401
    assert _try(second, "root", "wrong password!")[0] == 401
    assert _try(limited.client(), "nobody", "wrong password!")[0] == 401
    assert _try(second, "root", PASSWORD)[0] == 429


def test_zero_turns_the_throttle_off(tmp_path: Path) -> None:
    for console in make_console(f"sqlite:///{tmp_path / 'off.db'}", tmp_path, login_failures_per_address=0):
        client = console.client()
        assert {_try(client, f"user{i}", "wrong password!")[0] for i in range(25)} == {401}

"""The Identities page's test helpers: the store passphrase in the console's environment (as `mailseal serve` has
it), and uploads of the test PKI's PKCS#12 files through the page and the API."""

from __future__ import annotations

import pytest
from httpx import Response
from starlette.testclient import TestClient

from mailseal.store.passphrase import CREDENTIALS_ENV, KEYFILE_ENV, PASSPHRASE_ENV
from tests.support.testpki import User
from tests.web.conftest import csrf_of

STORE_PASSPHRASE = "the console's store passphrase"
P12_PASSWORD = "test"  # the test PKI's PKCS#12 password


def give_passphrase(monkeypatch: pytest.MonkeyPatch, value: str | None = STORE_PASSPHRASE) -> None:
    """The console process's environment with the store passphrase (or, with None, with none at all)."""
    monkeypatch.delenv(KEYFILE_ENV, raising=False)
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    if value is None:
        monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    else:
        monkeypatch.setenv(PASSPHRASE_ENV, value)


def api_import(client: TestClient, user: User, password: str = P12_PASSWORD, usage: str = "auto",
               headers: dict[str, str] | None = None) -> Response:
    return client.post("/api/v1/identities", files={"file": (f"{user.name}.p12", user.p12_path.read_bytes())},
                       data={"password": password, "usage": usage},
                       headers=headers if headers is not None else {"X-CSRF-Token": csrf_of(client)})


def page_import(client: TestClient, user: User, password: str = P12_PASSWORD, usage: str = "auto") -> Response:
    return client.post("/identities/import", files={"file": (f"{user.name}.p12", user.p12_path.read_bytes())},
                       data={"password": password, "usage": usage, "csrf_token": csrf_of(client)})

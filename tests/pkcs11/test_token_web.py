"""The console's Identities page and API with an identity whose key is on a SoftHSM2 token: its location is shown
as the token's URI, never with the PIN, and listing it needs neither the PIN nor the store passphrase."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailseal.cms.token import PIN_ENV
from mailseal.store.keystore import KeyStore
from tests.pkcs11.softhsm import HSM
from tests.web.conftest import Console, make_console
from tests.web.identities_support import give_passphrase


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Console]:
    yield from make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path)


def test_a_token_identity_is_listed_by_its_uri_without_the_pin(web: Console, hsm: HSM,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch, None)  # a token identity is filed and listed without the store passphrase
    keystore = KeyStore(web.store, lambda: pytest.fail("the store passphrase was asked for"))  # type: ignore[arg-type, return-value]
    [row_id] = keystore.add_token_identity(hsm.identity("ec"), usage="dual")
    (record,) = keystore.list()
    assert record.key_location.startswith("pkcs11:token=mailseal-test;id=")
    web.add("root")
    client = web.login("root")
    page = client.get("/identities")
    assert page.status_code == 200 and f"PKCS#11 token: {record.key_location}" in page.text
    (item,) = client.get("/api/v1/identities").json()["items"]
    assert item["id"] == row_id and item["key_location"] == record.key_location
    assert item["key_location_text"] == f"PKCS#11 token: {record.key_location}"
    pin = os.environ[PIN_ENV]
    for answer in (page.text, str(item)):
        assert "pin-value" not in answer and f"={pin}" not in answer

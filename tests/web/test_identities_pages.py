"""The Identities page and /api/v1/identities over a real SQLite store (and one test on PostgreSQL): the keys held,
metadata only; import of a PKCS#12 upload sealed under the store's key-encryption key, removal, both only after
giving the password again and audited; auditors read only; without a store passphrase the page says how to give
one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint
from mailseal.store import events
from mailseal.store.keystore import KeyStore
from mailseal.web.service_identities import FIELDS, location_text
from tests.support.postgres import drop_database, fresh_database, postgres_url
from tests.support.testpki import TestPKI
from tests.web.certs_support import reauth
from tests.web.conftest import Console, csrf_of, make_console
from tests.web.identities_support import STORE_PASSPHRASE, api_import, give_passphrase, page_import

__all__ = ["postgres_url"]


def _pkcs8(key: object) -> bytes:
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())  # type: ignore[attr-defined, no-any-return]


def test_import_list_and_remove_need_the_password_again(console: Console, root: TestClient, pki: TestPKI,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch)
    rsa_user, ec_user = pki.user("idrsa"), pki.user("idec", "ec-p256")
    console.clock.advance(seconds=301)  # the login's password counts for five minutes
    refused = page_import(root, rsa_user)
    assert refused.status_code == 303 and refused.headers["location"] == "/reauth?next=/identities"
    api_refused = api_import(root, rsa_user)
    assert api_refused.status_code == 403 and "password again" in api_refused.json()["detail"]
    assert KeyStore(console.store).list() == []
    reauth(root)
    page = page_import(root, rsa_user, usage="dual")
    assert page.status_code == 200, page.text
    assert "✓ Imported 1 identity" in page.text and "idrsa@example.org" in page.text
    assert "sealed in the store" in page.text and "✓ valid" in page.text
    made = api_import(root, ec_user)
    assert made.status_code == 201, made.text
    (item,) = made.json()["imported"]
    assert set(item) == set(FIELDS)
    assert item["address"] == "idec@example.org" and item["fingerprint_sha256"] == fingerprint(ec_user.cert)
    assert item["key_location"] == "store" and item["key_location_text"] == "sealed in the store"
    # paged, by address
    first = root.get("/api/v1/identities", params={"limit": 1}).json()
    assert first["total"] == 2 and first["next_offset"] == 1 and [i["address"] for i in first["items"]] == [
        "idec@example.org"]
    second = root.get("/api/v1/identities", params={"limit": 1, "offset": 1}).json()
    assert second["next_offset"] is None and second["items"][0]["usage"] == "dual"
    # the keys are sealed under the key-encryption key of the passphrase the console was given: it opens them
    store_keys = KeyStore(console.store, STORE_PASSPHRASE.encode())
    assert _pkcs8(store_keys.get(item["id"]).private_key) == _pkcs8(ec_user.key)
    rsa_id = second["items"][0]["id"]
    assert _pkcs8(store_keys.get(rsa_id).private_key) == _pkcs8(rsa_user.key)
    # importing the same identity again is refused, beside the form
    again = page_import(root, rsa_user)
    assert again.status_code == 400 and "already in the key store" in again.text
    gone = root.delete(f"/api/v1/identities/{item['id']}", headers={"X-CSRF-Token": csrf_of(root)})
    assert gone.status_code == 200 and gone.json()["removed"]["fingerprint_sha256"] == fingerprint(ec_user.cert)
    assert root.delete(f"/api/v1/identities/{item['id']}", headers={"X-CSRF-Token": csrf_of(root)}).status_code == 404
    removed = root.post(f"/identities/{rsa_id}/remove", data={"csrf_token": csrf_of(root)})
    assert removed.status_code == 200 and f"Removed identity {rsa_id}" in removed.text
    assert "No identity yet" in removed.text and KeyStore(console.store).list() == []
    audited = [(e.action, e.subject, e.actor) for e in events(console.store) if e.action.startswith("keys.")]
    assert sorted(a[:2] for a in audited) == sorted([
        ("keys.import", "idrsa@example.org"), ("keys.import", "idec@example.org"),
        ("keys.remove", "idrsa@example.org"), ("keys.remove", "idec@example.org")])
    assert all(actor.startswith("web:root (") for _, _, actor in audited)
    # the re-authentication lasts five minutes
    console.clock.advance(seconds=301)
    assert api_import(root, rsa_user).status_code == 403


def test_an_auditor_sees_the_list_but_cannot_import_or_remove(console: Console, root: TestClient, pki: TestPKI,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch)
    user = pki.user("idaudit")
    reauth(root)
    ident = api_import(root, user).json()["imported"][0]["id"]
    eve = console.login("eve")
    page = eve.get("/identities")
    assert page.status_code == 200 and "idaudit@example.org" in page.text
    assert "Import a PKCS#12" not in page.text and "/remove" not in page.text
    assert api_import(eve, user).status_code == 403
    assert eve.delete(f"/api/v1/identities/{ident}", headers={"X-CSRF-Token": csrf_of(eve)}).status_code == 403
    assert eve.post(f"/identities/{ident}/remove", data={"csrf_token": csrf_of(eve)}).status_code == 403
    assert [r.id for r in KeyStore(console.store).list()] == [ident]


def test_without_a_store_passphrase_the_page_says_how_to_give_one(console: Console, root: TestClient, pki: TestPKI,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch, None)
    page = root.get("/identities")
    assert page.status_code == 200 and "No store passphrase" in page.text
    assert "MAILSEAL_STORE_PASSPHRASE" in page.text and "MAILSEAL_STORE_KEYFILE" in page.text
    assert 'name="passphrase"' not in page.text  # never asked for in a form
    reauth(root)
    refused = api_import(root, pki.user("idnopass"))
    assert refused.status_code == 400 and refused.json()["code"] == "usage"
    assert "no key store passphrase" in refused.json()["detail"]
    assert KeyStore(console.store).list() == []


def test_a_wrong_pkcs12_password_or_a_usage_the_certificate_refuses(console: Console, root: TestClient,
                                                                    pki: TestPKI,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch)
    reauth(root)
    wrong = page_import(root, pki.user("idwrong"), password="not it")
    assert wrong.status_code == 400 and "PKCS#12 password is wrong" in wrong.text
    signer = pki.user("idsignonly", key_usage={"digitalSignature"})
    refused = api_import(root, signer, usage="encrypt")
    assert refused.status_code == 400 and "does not allow usage encrypt" in refused.json()["detail"]
    assert root.delete("/api/v1/identities/0", headers={"X-CSRF-Token": csrf_of(root)}).status_code == 422
    assert KeyStore(console.store).list() == []


def test_a_token_key_is_shown_by_its_uri_without_a_pin() -> None:
    assert location_text("store") == "sealed in the store"
    assert location_text("pkcs11:token=mail;object=alice") == \
        "PKCS#11 token: pkcs11:token=mail;object=alice;type=private"
    shown = location_text("pkcs11:token=mail;object=alice?pin-value=1234")
    assert "1234" not in shown and shown.startswith("PKCS#11 token")


@pytest.fixture
def pg_console(postgres_url: str, tmp_path: Path) -> Iterator[Console]:
    url, name = fresh_database(postgres_url)
    try:
        yield from make_console(url, tmp_path)
    finally:
        drop_database(postgres_url, name)


def test_identities_on_postgresql(pg_console: Console, pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch)
    pg_console.add("root")
    client = pg_console.login("root")
    reauth(client)
    user = pki.user("idpg", "ec-p384")
    made = api_import(client, user)
    assert made.status_code == 201, made.text
    ident = made.json()["imported"][0]["id"]
    listed = client.get("/identities")
    assert "idpg@example.org" in listed.text and "sealed in the store" in listed.text
    key = KeyStore(pg_console.store, STORE_PASSPHRASE.encode()).get(ident).private_key
    assert _pkcs8(key) == _pkcs8(user.key)
    assert client.delete(f"/api/v1/identities/{ident}", headers={"X-CSRF-Token": csrf_of(client)}).status_code == 200
    assert KeyStore(pg_console.store).list() == []


def test_a_wrong_store_passphrase_seals_nothing(console: Console, root: TestClient, pki: TestPKI,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    give_passphrase(monkeypatch)
    reauth(root)
    assert api_import(root, pki.user("idfirst")).status_code == 201  # the store's key-encryption key is made
    give_passphrase(monkeypatch, "another passphrase")
    refused = page_import(root, pki.user("idsecond"))
    assert refused.status_code == 400 and "key store passphrase is wrong" in refused.text
    assert [r.address for r in KeyStore(console.store).list()] == ["idfirst@example.org"]

"""The Domains page and GET /api/v1/domains: the settings file's accepted domains, each with its policy entry in
effect, its counts of submission accounts, identities and directory certificates, and what is published there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mailseal.cms.identity import Identity
from mailseal.store import Directory, KeyStore
from mailseal.store.users import Users
from tests.support.postgres import drop_database, fresh_database, postgres_url
from tests.support.testpki import TestPKI
from tests.web.conftest import Console, csrf_of, make_console

__all__ = ["postgres_url"]

SETTINGS = """
[gateway]
accepted_domains = ["example.org", "*.corp.example", "quiet.example"]

[policy]
sign = "if-key"

[policy.domains."example.org"]
encrypt = "require"
"""
CHEAP = {"n": 2**10, "r": 8, "p": 1}


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mailseal.toml"
    path.write_text(SETTINGS)
    monkeypatch.setenv("MAILSEAL_CONFIG", str(path))
    return path


def _stock(console: Console, pki: TestPKI) -> Console:
    """example.org: alice's identity (key store), bob's and carol's directory certificates, two accounts;
    dept.corp.example: one directory certificate and one account; partner.example (not ours): one certificate."""
    alice = pki.user("alice")
    KeyStore(console.store, b"pass", scrypt=CHEAP).add(Identity(alice.key, alice.cert, tuple(alice.chain)))
    directory = Directory(console.store)
    directory.add(pki.user("bob").cert)
    directory.add(pki.user("carol").cert)
    directory.add(pki.user("dan", email="dan@dept.corp.example").cert)
    directory.add(pki.user("pat", email="pat@partner.example").cert)
    accounts = Users(console.store, scrypt=CHEAP)
    accounts.add("one", b"a password 1234", ["one@example.org", "one@dept.corp.example"])
    accounts.add("two", b"a password 1234", ["two@EXAMPLE.org"])
    accounts.add("out", b"a password 1234", ["out@partner.example"])
    return console


@pytest.fixture
def stocked(console: Console, pki: TestPKI, settings_file: Path) -> Console:
    return _stock(console, pki)


def test_each_accepted_domain_with_its_counts(stocked: Console, root: TestClient) -> None:
    answer = root.get("/api/v1/domains")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    by_name = {d["name"]: d for d in body["items"]}
    assert list(by_name) == ["example.org", "*.corp.example", "quiet.example"]
    org, corp, quiet = by_name["example.org"], by_name["*.corp.example"], by_name["quiet.example"]
    assert (org["users"], org["identities"], org["directory_certificates"]) == (2, 1, 2)
    assert (corp["users"], corp["identities"], corp["directory_certificates"]) == (1, 0, 1)
    assert (quiet["users"], quiet["identities"], quiet["directory_certificates"]) == (0, 0, 0)
    # published: alice (key store), bob and carol (directory) at example.org; dan at dept.corp.example
    assert (org["published_certificates"], corp["published_certificates"], quiet["published_certificates"]) == (3, 1, 0)
    assert org["policy_entry"] == "example.org" and org["settings"]["encrypt"] == "require"
    assert org["sources"]["encrypt"] == "domain example.org" and org["sources"]["sign"] == "global"
    assert quiet["policy_entry"] is None and quiet["sources"]["encrypt"] == "default"
    assert body["policy_source"] == "the settings file" and "accepted_domains" in body["how_to_change"]

    page = root.get("/domains")
    assert page.status_code == 200
    assert "*.corp.example" in page.text and "quiet.example" in page.text and 'href="/policy' in page.text
    assert "✓ 3 published" in page.text and "! none published" in page.text
    assert "Read-only here" in page.text and "settings file" in page.text
    assert 'action="/domains' not in page.text  # nothing to post: the file is the source of truth


def test_a_policy_change_in_the_store_shows(stocked: Console, root: TestClient) -> None:
    current = root.get("/api/v1/policy").json()["policy"]
    current["domains"]["example.org"] = {"encrypt": "if-possible"}
    saved = root.put("/api/v1/policy", json={"policy": current, "version": 0},
                     headers={"X-CSRF-Token": csrf_of(root)})
    assert saved.status_code == 200, saved.text
    org = root.get("/api/v1/domains").json()["items"][0]
    assert org["settings"]["encrypt"] == "if-possible"
    assert root.get("/api/v1/domains").json()["policy_source"] == "the store (version 1)"


def test_no_accepted_domains(console: Console, root: TestClient, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("[gateway]\n")
    monkeypatch.setenv("MAILSEAL_CONFIG", str(path))
    assert root.get("/api/v1/domains").json()["items"] == []
    assert "No accepted domains are configured" in root.get("/domains").text


def test_an_auditor_reads_the_domains(stocked: Console, root: TestClient) -> None:
    eve = stocked.login("eve")
    assert eve.get("/domains").status_code == 200
    assert len(eve.get("/api/v1/domains").json()["items"]) == 3
    assert eve.post("/api/v1/domains", headers={"X-CSRF-Token": csrf_of(eve)}).status_code == 405


@pytest.fixture
def pg_console(postgres_url: str, tmp_path: Path, settings_file: Path) -> Iterator[Console]:
    url, name = fresh_database(postgres_url)
    try:
        yield from make_console(url, tmp_path)
    finally:
        drop_database(postgres_url, name)


def test_the_counts_on_postgresql(pg_console: Console, pki: TestPKI) -> None:
    _stock(pg_console, pki)
    pg_console.add("root")
    client = pg_console.login("root")
    counts = {d["name"]: (d["users"], d["identities"], d["directory_certificates"], d["published_certificates"])
              for d in client.get("/api/v1/domains").json()["items"]}
    assert counts == {"example.org": (2, 1, 2, 3), "*.corp.example": (1, 0, 1, 1), "quiet.example": (0, 0, 0, 0)}

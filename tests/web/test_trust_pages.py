"""The Trust page and /api/v1/trust over a real SQLite store (and one test on PostgreSQL): one list of anchors and
intermediates, add by upload and remove only after giving the password again, SST import and PEM/SST export,
every change audited, auditors read only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint
from mailseal.pki.sst import read_sst, write_sst
from mailseal.pki.truststore import read_certificates
from mailseal.store import events
from mailseal.store.trust import StoredTrust
from tests.support.postgres import drop_database, fresh_database, postgres_url
from tests.support.testpki import TestPKI
from tests.web.certs_support import pem, reauth
from tests.web.conftest import Console, csrf_of, make_console

__all__ = ["postgres_url"]


def _add(client: TestClient, name: str, data: bytes, **form: str) -> object:
    return client.post("/api/v1/trust", files={"file": (name, data)}, data=form,
                       headers={"X-CSRF-Token": csrf_of(client)})


def test_adding_and_removing_needs_the_password_again(console: Console, root: TestClient, pki: TestPKI) -> None:
    console.clock.advance(seconds=301)  # the login's password counts for five minutes
    refused = root.post("/trust/add", files={"file": ("root.pem", pem(pki.root_cert))},
                        data={"csrf_token": csrf_of(root)})
    assert refused.status_code == 303 and refused.headers["location"] == "/reauth?next=/trust"
    api_refused = _add(root, "root.pem", pem(pki.root_cert))
    assert api_refused.status_code == 403 and "password again" in api_refused.json()["detail"]  # type: ignore[attr-defined]
    assert StoredTrust(console.store).entries() == []
    reauth(root)
    added = root.post("/trust/add", files={"file": ("root.pem", pem(pki.root_cert))},
                      data={"csrf_token": csrf_of(root), "kind": "anchor"})
    assert added.status_code == 200 and "1 added, 0 moved, 0 already present" in added.text
    assert "⚓ anchor" in added.text and "mailseal Test Root" in added.text
    inter = _add(root, "inter.cer", pki.intermediate_cert.public_bytes(Encoding.DER), kind="intermediate")
    assert inter.status_code == 200 and [e["kind"] for e in inter.json()["added"]] == ["intermediate"]  # type: ignore[attr-defined]
    listed = root.get("/api/v1/trust").json()["items"]
    assert [(i["kind"], i["fingerprint_sha256"]) for i in listed] == [
        ("anchor", fingerprint(pki.root_cert)), ("intermediate", fingerprint(pki.intermediate_cert))]
    fp = fingerprint(pki.intermediate_cert)
    gone = root.delete(f"/api/v1/trust/{fp[:16]}", headers={"X-CSRF-Token": csrf_of(root)})
    assert gone.status_code == 200 and [e["fingerprint_sha256"] for e in gone.json()["items"]] == [fp]
    page = root.post(f"/trust/{fingerprint(pki.root_cert)}/remove", data={"csrf_token": csrf_of(root)})
    assert page.status_code == 200 and "Removed anchor" in page.text and "The trust list is empty" in page.text
    assert StoredTrust(console.store).entries() == []
    actions = [(e.action, e.subject) for e in events(console.store) if e.action.startswith("trust.")]
    assert sorted(actions) == sorted([("trust.add", fingerprint(pki.root_cert)), ("trust.add", fp),
                                      ("trust.remove", fp), ("trust.remove", fingerprint(pki.root_cert))])
    assert all(e.actor.startswith("web:root (") for e in events(console.store) if e.action.startswith("trust."))
    # the re-authentication lasts five minutes
    console.clock.advance(seconds=301)
    assert _add(root, "root.pem", pem(pki.root_cert)).status_code == 403  # type: ignore[attr-defined]


def test_sst_import_and_pem_and_sst_export(console: Console, root: TestClient, pki: TestPKI) -> None:
    reauth(root)
    added = _add(root, "cas.sst", write_sst([pki.root_cert, pki.ec_intermediate_cert], friendly_names=True))
    assert added.status_code == 200 and len(added.json()["added"]) == 2  # type: ignore[attr-defined]
    sst = root.get("/api/v1/trust/export", params={"format": "sst"})
    assert sst.status_code == 200 and sst.headers["content-type"] == "application/vnd.ms-pki.certstore"
    assert read_sst(sst.content) == [pki.root_cert, pki.ec_intermediate_cert]
    bundle = root.get("/trust/export", params={"format": "pem"})
    assert read_certificates(bundle.content) == [pki.root_cert, pki.ec_intermediate_cert]
    assert "attachment" in bundle.headers["content-disposition"]


def test_a_leaf_is_refused_unless_allowed_and_nothing_is_added(console: Console, root: TestClient,
                                                                pki: TestPKI) -> None:
    reauth(root)
    leaf = pki.user("trustleaf")
    page = root.post("/trust/add", files={"file": ("leaf.pem", pem(leaf.cert) + pem(pki.root_cert))},
                     data={"csrf_token": csrf_of(root)})
    assert page.status_code == 400 and "is not a CA certificate" in page.text
    assert StoredTrust(console.store).entries() == []
    refused = _add(root, "leaf.pem", pem(leaf.cert)).json()  # type: ignore[attr-defined]
    assert refused["added"] == [] and "is not a CA certificate" in refused["refused"] and refused["code"] == "usage"
    unreadable = _add(root, "empty.pem", b"").json()  # type: ignore[attr-defined]
    assert unreadable["code"] == "malformed-certificate" and "empty" in unreadable["refused"]
    assert StoredTrust(console.store).entries() == []
    allowed = _add(root, "leaf.pem", pem(leaf.cert), allow_leaf="true")
    assert allowed.status_code == 200 and allowed.json()["added"][0]["is_ca"] is False  # type: ignore[attr-defined]
    p12 = _add(root, "user.p12", leaf.p12_path.read_bytes())
    assert p12.status_code == 400 and p12.json()["code"] == "password-needed"  # type: ignore[attr-defined]


def test_an_auditor_sees_the_list_but_cannot_change_it(console: Console, root: TestClient, pki: TestPKI) -> None:
    StoredTrust(console.store).add([pki.root_cert], actor="test")
    eve = console.login("eve")
    token = csrf_of(eve)
    page = eve.get("/trust")
    assert page.status_code == 200 and "mailseal Test Root" in page.text and "Add certificates" not in page.text
    assert eve.get("/api/v1/trust").json()["items"][0]["kind"] == "anchor"
    fp = fingerprint(pki.root_cert)
    assert eve.delete(f"/api/v1/trust/{fp}", headers={"X-CSRF-Token": token}).status_code == 403
    assert eve.post(f"/trust/{fp}/remove", data={"csrf_token": token}).status_code == 403
    assert eve.post("/api/v1/trust", files={"file": ("r.pem", pem(pki.root_cert))},
                    headers={"X-CSRF-Token": token}).status_code == 403
    assert len(StoredTrust(console.store).entries()) == 1


@pytest.fixture
def pg_console(postgres_url: str, tmp_path: Path) -> Iterator[Console]:
    """The console over an empty database on the PostgreSQL server the store tests use."""
    url, name = fresh_database(postgres_url)
    try:
        yield from make_console(url, tmp_path)
    finally:
        drop_database(postgres_url, name)


def test_trust_and_certificates_on_postgresql(pg_console: Console, pki: TestPKI) -> None:
    pg_console.add("root")
    client = pg_console.login("root")
    reauth(client)
    assert _add(client, "root.pem", pem(pki.root_cert)).status_code == 200  # type: ignore[attr-defined]
    assert _add(client, "inter.pem", pem(pki.intermediate_cert), kind="intermediate").status_code == 200  # type: ignore[attr-defined]
    user = pki.user("pgweb")
    imported = client.post("/api/v1/certificates", files={"file": ("u.pem", pem(user.cert))},
                           headers={"X-CSRF-Token": csrf_of(client)})
    assert imported.status_code == 200 and imported.json()["added"] == 1
    detail = client.get(f"/api/v1/certificates/{fingerprint(user.cert)}").json()
    assert [c["role"] for c in detail["chain"]["certificates"]] == ["Certificate", "Intermediate CA", "Trust anchor"]
    assert client.get("/api/v1/certificates", params={"address": "pgweb"}).json()["total"] == 1
    assert [e.action for e in events(pg_console.store) if e.action in ("trust.add", "certs.import")] == [
        "trust.add", "trust.add", "certs.import"]


def test_a_file_trust_list_is_taken_over_and_shown(console: Console, root: TestClient, pki: TestPKI,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailseal.pki import trustlist

    home = tmp_path / "home"
    monkeypatch.setenv("MAILSEAL_HOME", str(home))
    trustlist.add([pki.root_cert], home=home)  # what `mailseal trust add` wrote before there was a store
    listed = root.get("/api/v1/trust").json()["items"]
    assert [i["fingerprint_sha256"] for i in listed] == [fingerprint(pki.root_cert)]
    assert trustlist.entries(home) == [] and list((home / "trust").glob("*.migrated"))

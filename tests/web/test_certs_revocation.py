""""Check revocation now" on a directory certificate: the console asks the certificate's CRL or OCSP source (a real
server on 127.0.0.1), only where ``[web].fetch_networks`` allows a private address, and audits who asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint
from mailseal.store import events
from mailseal.store.directory import Directory
from mailseal.store.trust import StoredTrust
from tests.support.revocation_servers import RevocationCA, RevocationServer
from tests.support.testpki import TestPKI
from tests.web.conftest import Console, csrf_of, make_console


@pytest.fixture
def fetching(tmp_path: Path) -> Iterator[Console]:
    """A console that may fetch from loopback (the test's revocation server)."""
    yield from make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path, fetch_networks=("127.0.0.0/8",))


def _signed_in(console: Console, pki: TestPKI, role: str = "admin") -> TestClient:
    StoredTrust(console.store).add([pki.root_cert], actor="test")
    console.add("root", role)
    return console.login("root")


def test_a_revoked_certificate_is_found_revoked_and_a_good_one_good(fetching: Console, pki: TestPKI) -> None:
    client = _signed_in(fetching, pki, "auditor")  # reading: an auditor may ask too
    with RevocationServer(RevocationCA(pki)) as server:
        good, bad = server.user("crlgood", crl=True), server.user("crlbad", ocsp_=True)
        server.ca.revoke(bad.cert)
        Directory(fetching.store).add_many([good.cert, bad.cert])
        fp = fingerprint(bad.cert)
        before = client.get(f"/certificates/{fp}")
        assert "Not checked" in before.text and 'id="check-revocation"' in before.text
        assert server.hits["ocsp"] == 0  # showing the page fetches nothing
        page = client.post(f"/certificates/{fp}/revocation", data={"csrf_token": csrf_of(client)})
        assert page.status_code == 200 and "Revoked" in page.text and 'id="revocation-checked"' in page.text
        assert "Not valid: certificate revoked" in page.text and server.hits["ocsp"] >= 1
        answer = client.post(f"/api/v1/certificates/{fingerprint(good.cert)}/revocation",
                             headers={"X-CSRF-Token": csrf_of(client)})
        assert answer.status_code == 200 and answer.json()["revocation"]["state"] == "Not revoked"
        assert server.hits["crl"] >= 1
    asked = [e for e in events(fetching.store) if e.action == "certs.revocation-check"]
    assert {(e.subject, e.detail["state"]) for e in asked} == {(fp, "revoked"), (fingerprint(good.cert), "good")}
    assert all(e.actor.startswith("web:root (") for e in asked)


def test_a_private_address_is_not_asked_unless_allowed(console: Console, pki: TestPKI) -> None:
    client = _signed_in(console, pki)
    with RevocationServer(RevocationCA(pki)) as server:
        user = server.user("crlprivate", crl=True)
        server.ca.revoke(user.cert)
        Directory(console.store).add(user.cert)
        page = client.post(f"/certificates/{fingerprint(user.cert)}/revocation",
                           data={"csrf_token": csrf_of(client)})
        assert page.status_code == 200 and "Revocation unknown" in page.text
        assert server.hits["crl"] == 0  # refused before any connection: 127.0.0.1 is not a public address


def test_the_check_needs_a_csrf_token(fetching: Console, pki: TestPKI) -> None:
    client = _signed_in(fetching, pki)
    with RevocationServer(RevocationCA(pki)) as server:
        user = server.user("crlcsrf", crl=True)
        Directory(fetching.store).add(user.cert)
        assert client.post(f"/certificates/{fingerprint(user.cert)}/revocation").status_code == 403
        assert server.hits["crl"] == 0

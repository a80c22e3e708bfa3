"""The Publishing page and /api/v1/publishing: what `mailseal certs publish` publishes where, with the accepted
domains read from the settings file as the CLI reads them, and the files (SMIMEA zone per domain, LDIF, PEM, P7B)
read back with mailseal's own readers."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint, load_certificates
from mailseal.store.directory import Directory
from mailseal.store.ldif import certificates_from_ldif
from mailseal.store.smimea import owner_name
from tests.support.testpki import TestPKI
from tests.web.conftest import Console


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mailseal.toml"
    path.write_text('[gateway]\naccepted_domains = ["example.org", "example.net"]\n', encoding="utf-8")
    monkeypatch.setenv("MAILSEAL_CONFIG", str(path))
    return path


def test_what_is_published_where_and_the_downloads(settings: Path, console: Console, root: TestClient,
                                                   pki: TestPKI) -> None:
    ours = pki.user("pubalice")
    other = pki.user("pubbob", email="pubbob@example.net")
    outside = pki.user("pubcarol", email="carol@partner.example")
    unsuitable = pki.user("pubdave", key_usage={"digitalSignature"})
    directory = Directory(console.store)
    for u in (ours, other, outside, unsuitable):
        directory.add(u.cert)
    view = root.get("/api/v1/publishing", params={"base_dn": "ou=people,dc=example,dc=org"}).json()
    assert view["accepted_domains_configured"] is True and view["domains"] == ["example.net", "example.org"]
    published = {c["address"]: c for c in view["certificates"]}
    assert set(published) == {ours.email, other.email}
    assert published[ours.email]["published"]["smimea"]["owner"] == owner_name(ours.email)
    assert published[ours.email]["published"]["ldif"]["dn"] == "mail=pubalice@example.org,ou=people,dc=example,dc=org"
    assert [s["address"] for s in view["skipped"]] == [unsuitable.email]
    assert "keyEncipherment" in view["skipped"][0]["reason"]
    page = root.get("/publishing")
    assert page.status_code == 200 and owner_name(ours.email) in page.text and "not published" in page.text
    assert "carol@partner.example" not in page.text
    assert 'href="/publishing/download/smimea?domain=example.org"' in page.text

    zone = root.get("/publishing/download/smimea", params={"domain": "example.org"})
    assert zone.status_code == 200 and owner_name(ours.email) in zone.text and owner_name(other.email) not in zone.text
    packed = "".join(zone.text.split()).lower()  # the record's hex, folded over lines: the whole certificate (3 0 0)
    assert ours.cert.public_bytes(Encoding.DER).hex() in packed
    ldif = root.get("/api/v1/publishing/ldif", params={"base_dn": "ou=people,dc=example,dc=org"})
    assert ldif.headers["content-type"].startswith("text/x-ldif")
    certs, reasons = certificates_from_ldif(ldif.content)
    assert reasons == [] and {fingerprint(c) for c in certs} == {fingerprint(ours.cert), fingerprint(other.cert)}
    bundle = root.get("/publishing/download/pem")
    assert {fingerprint(c) for c in load_certificates(bundle.content)} == {fingerprint(ours.cert),
                                                                          fingerprint(other.cert)}
    assert root.get("/api/v1/publishing/smimea/example.net").text.count("IN SMIMEA 3 0 0") == 1
    p7b = root.get("/api/v1/publishing/bundle/p7b")
    assert p7b.headers["content-type"] == "application/x-pkcs7-certificates"
    assert {fingerprint(c) for c in load_certificates(p7b.content)} == {fingerprint(ours.cert),
                                                                       fingerprint(other.cert)}
    assert root.get("/api/v1/publishing/smimea/partner.example").status_code == 404  # nothing published there
    assert root.get("/publishing/download/smimea").status_code == 400  # one domain at a time
    assert root.get("/publishing/download/ldif").status_code == 400  # needs the base DN
    assert root.get("/publishing/download/ldif", params={"base_dn": "not a dn"}).status_code == 400
    assert root.get("/api/v1/publishing/ldif").status_code == 422
    assert root.get("/api/v1/publishing/ldif", params={"base_dn": "not a dn"}).status_code == 422
    eve = console.login("eve")
    assert eve.get("/api/v1/publishing").status_code == 200 and eve.get("/publishing").status_code == 200


def test_without_accepted_domains_the_directory_is_not_published(console: Console, root: TestClient,
                                                                  pki: TestPKI, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))  # no settings file there
    Directory(console.store).add(pki.user("pubnobody").cert)
    view = root.get("/api/v1/publishing").json()
    assert view["accepted_domains_configured"] is False and view["certificates"] == []
    assert "No accepted domains are configured" in root.get("/publishing").text
    assert root.get("/api/v1/publishing/bundle/p7b").status_code == 404  # a PKCS#7 bundle needs a certificate

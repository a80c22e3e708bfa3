"""The Certificates pages and their REST endpoints over a real SQLite store: import of each format with a result
per entry, search, the detail page with its chain drawn, export round trip, remove (audited), auditors read only."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography import x509
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint
from mailseal.store import events
from mailseal.store.directory import Directory
from mailseal.store.trust import StoredTrust
from tests.support.testpki import TestPKI
from tests.web.certs_support import files_of, pem
from tests.web.conftest import Console, csrf_of

SVG = "{http://www.w3.org/2000/svg}"


def _upload(client: TestClient, name: str, data: bytes, password: str = "") -> dict[str, object]:
    answer = client.post("/api/v1/certificates", files={"file": (name, data)}, data={"password": password},
                         headers={"X-CSRF-Token": csrf_of(client)})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


@pytest.mark.parametrize("fmt", ["pem", "der", "p7b", "sst", "ldif", "p12"])
def test_import_each_format_gives_a_result_per_entry(fmt: str, console: Console, root: TestClient,
                                                     pki: TestPKI) -> None:
    user = pki.user("webimport")
    name, data = files_of(pki, user)[fmt]
    body = _upload(root, name, data, password="test" if fmt == "p12" else "")
    entries = body["entries"]
    assert isinstance(entries, list)
    added = [e for e in entries if e["status"] == "added"]
    assert [e["fingerprint_sha256"] for e in added] == [fingerprint(user.cert)]
    assert added[0]["addresses"] == [user.email] and "CN=webimport" in added[0]["subject"]
    if fmt in ("p7b", "sst", "p12"):  # the chain's CA certificates are not correspondents' certificates
        skipped = [e for e in entries if e["status"] == "skipped"]
        assert {e["fingerprint_sha256"] for e in skipped} == {fingerprint(c) for c in user.chain}
        assert all("CA certificate" in e["reason"] for e in skipped)
    assert [e.address for e in Directory(console.store).find(user.email)] == [user.email]
    again = _upload(root, name, data, password="test" if fmt == "p12" else "")
    assert again["added"] == 0 and again["already_known"] == 1
    audited = [e for e in events(console.store) if e.action == "certs.import"]
    assert len(audited) == 1 and audited[0].actor.startswith("web:root (") and audited[0].subject == user.email


def test_import_page_shows_each_entry_and_refuses_garbage_with_a_reason(console: Console, root: TestClient,
                                                                        pki: TestPKI) -> None:
    user = pki.user("webpage")
    name, data = files_of(pki, user)["p7b"]
    page = root.post("/certificates/import", files={"file": (name, data)}, data={"csrf_token": csrf_of(root)})
    assert page.status_code == 200
    assert "1 added, 0 already known, 2 skipped" in page.text
    assert f'href="/certificates/{fingerprint(user.cert)}"' in page.text
    assert "a CA certificate, not a correspondent" in page.text
    junk = _upload(root, "junk.pem", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert junk["added"] == 0 and junk["skipped"] == 1
    # a protected PKCS#12 without its password: said beside the form, nothing imported
    p12_name, p12 = files_of(pki, user)["p12"]
    asked = root.post("/certificates/import", files={"file": (p12_name, p12)}, data={"csrf_token": csrf_of(root)})
    assert asked.status_code == 400 and "needs a password" in asked.text
    wrong = root.post("/api/v1/certificates", files={"file": (p12_name, p12)}, data={"password": "nope"},
                      headers={"X-CSRF-Token": csrf_of(root)})
    assert wrong.status_code == 400 and wrong.json()["code"] == "wrong-password"


def test_search_by_address_fingerprint_and_issuer_with_pages(console: Console, root: TestClient,
                                                             pki: TestPKI) -> None:
    users = [pki.user(f"search{n}") for n in range(3)]
    ec = pki.user("searchec", "ec-p256", issuer="ec-intermediate")
    directory = Directory(console.store)
    for u in (*users, ec):
        directory.add(u.cert)
    by_address = root.get("/api/v1/certificates", params={"address": "search1@"}).json()
    assert [i["addresses"] for i in by_address["items"]] == [["search1@example.org"]] and by_address["total"] == 1
    fp = fingerprint(users[2].cert)
    by_fp = root.get("/api/v1/certificates", params={"fingerprint": ":".join([fp[:2], fp[2:10]])}).json()
    assert [i["fingerprint_sha256"] for i in by_fp["items"]] == [fp]
    by_issuer = root.get("/api/v1/certificates", params={"issuer": "test ec intermediate"}).json()
    assert [i["addresses"] for i in by_issuer["items"]] == [[ec.email]]
    first = root.get("/api/v1/certificates", params={"limit": 2}).json()
    second = root.get("/api/v1/certificates", params={"limit": 2, "offset": first["next_offset"]}).json()
    assert first["total"] == 4 and len(first["items"]) == 2 and second["next_offset"] is None
    shown = {i["fingerprint_sha256"] for i in first["items"] + second["items"]}
    assert shown == {fingerprint(u.cert) for u in (*users, ec)}
    page = root.get("/certificates", params={"issuer": "EC Intermediate"})
    assert page.status_code == 200 and ec.email in page.text and "search0@" not in page.text


def test_detail_draws_the_chain_to_the_trust_list(console: Console, root: TestClient, pki: TestPKI) -> None:
    user = pki.user("webdetail")
    Directory(console.store).add(user.cert)
    StoredTrust(console.store).add([pki.root_cert], actor="test")
    StoredTrust(console.store).add([pki.intermediate_cert], intermediate=True, actor="test")
    fp = fingerprint(user.cert)
    page = root.get(f"/certificates/{fp}")
    assert page.status_code == 200
    start = page.text.index("<svg")
    svg = ET.fromstring(page.text[start:page.text.index("</svg>", start) + len("</svg>")])
    assert svg.tag == SVG + "svg"
    texts = " ".join(t.text or "" for t in svg.iter(SVG + "text"))
    assert "mailseal Test Intermediate" in texts and "mailseal Test Root" in texts and "Trust anchor" in texts
    assert "style=" not in page.text
    for words in ("digitalSignature", "emailProtection", "imported by an administrator", "Sign:", "Encrypt:"):
        assert words in page.text, words
    detail = root.get(f"/api/v1/certificates/{fp[:12]}").json()
    assert detail["fingerprint_sha256"] == fp and detail["chain"]["complete"] is True
    assert [c["role"] for c in detail["chain"]["certificates"]] == ["Certificate", "Intermediate CA", "Trust anchor"]
    assert "CN=mailseal Test Intermediate" in detail["chain"]["certificates"][1]["subject"]
    assert detail["status"] == "Valid" and detail["profile"][0]["can_encrypt"] is True
    assert detail["filed"][0]["source"] == "imported" and detail["filed"][0]["capabilities"] is None
    # the capabilities a signer advertised, once learned, are shown by name
    with console.store.session() as session:
        Directory(console.store).learn_capabilities(session, user.email, fp, ("2.16.840.1.101.3.4.1.46",), None)
    learned = root.get(f"/api/v1/certificates/{fp}").json()["filed"][0]["capabilities"]
    assert learned == [{"oid": "2.16.840.1.101.3.4.1.46", "name": "aes256-gcm"}]


def test_detail_without_a_trusted_chain_says_so(console: Console, root: TestClient, pki: TestPKI) -> None:
    user = pki.user("weblonely", key_usage={"digitalSignature"})
    Directory(console.store).add(user.cert)
    detail = root.get(f"/api/v1/certificates/{fingerprint(user.cert)}").json()
    assert detail["chain"]["complete"] is False and detail["status"].startswith("Not trusted")
    check = detail["profile"][0]
    assert check["can_sign"] is True and check["can_encrypt"] is False
    assert check["encrypt_words"] == "No: the certificate's key usage does not allow keyEncipherment"
    page = root.get(f"/certificates/{fingerprint(user.cert)}")
    assert "No trusted chain" in page.text
    assert "✗ No: the certificate&#39;s key usage does not allow keyEncipherment" in page.text
    assert root.get("/certificates/00000000deadbeef").status_code == 404
    assert root.get("/api/v1/certificates/nothex").status_code == 422  # the path pattern: hex digits
    assert root.get("/certificates/nothex").status_code == 400


def test_export_round_trip_and_remove(console: Console, root: TestClient, pki: TestPKI) -> None:
    user = pki.user("webexport")
    Directory(console.store).add(user.cert)
    fp = fingerprint(user.cert)
    as_pem = root.get(f"/certificates/{fp}/export", params={"format": "pem"})
    assert as_pem.status_code == 200 and as_pem.content == pem(user.cert)
    assert "attachment" in as_pem.headers["content-disposition"]
    as_der = root.get(f"/api/v1/certificates/{fp}/export", params={"format": "der"})
    assert x509.load_der_x509_certificate(as_der.content) == user.cert
    gone = root.post(f"/certificates/{fp}/remove", data={"csrf_token": csrf_of(root)})
    assert gone.status_code == 303 and gone.headers["location"] == f"/certificates?removed={fp}"
    assert Directory(console.store).find(user.email) == []
    removed = [e for e in events(console.store) if e.action == "certs.remove"]
    assert removed and removed[0].actor.startswith("web:root") and removed[0].detail["fingerprint"] == fp
    # re-imported from the export, then removed through the API
    assert _upload(root, "back.pem", as_pem.content)["added"] == 1
    deleted = root.delete(f"/api/v1/certificates/{fp}", headers={"X-CSRF-Token": csrf_of(root)})
    assert deleted.status_code == 200 and deleted.json() == {"fingerprint_sha256": fp, "addresses": 1}
    assert root.delete(f"/api/v1/certificates/{fp}", headers={"X-CSRF-Token": csrf_of(root)}).status_code == 404


def test_an_auditor_reads_but_cannot_import_or_remove(console: Console, root: TestClient, pki: TestPKI) -> None:
    user = pki.user("webaudit")
    Directory(console.store).add(user.cert)
    fp = fingerprint(user.cert)
    eve = console.login("eve")
    token = csrf_of(eve)
    assert eve.get(f"/certificates/{fp}").status_code == 200
    page = eve.get("/certificates")
    assert user.email in page.text and "Import certificates" not in page.text
    name, data = files_of(pki, pki.user("webaudit2"))["pem"]
    assert eve.post("/api/v1/certificates", files={"file": (name, data)},
                    headers={"X-CSRF-Token": token}).status_code == 403
    assert eve.post("/certificates/import", files={"file": (name, data)},
                    data={"csrf_token": token}).status_code == 403
    assert eve.delete(f"/api/v1/certificates/{fp}", headers={"X-CSRF-Token": token}).status_code == 403
    assert eve.post(f"/certificates/{fp}/remove", data={"csrf_token": token}).status_code == 403
    assert [e.address for e in Directory(console.store).find(user.email)] == [user.email]
    assert Directory(console.store).find("webaudit2@example.org") == []


def test_the_internal_ca_register_says_whether_it_revoked_its_own(console: Console, root: TestClient,
                                                                  tmp_path: Path) -> None:
    from mailseal.pki.authority import CertificateAuthority

    # the console fixture's CA folder is tmp_path / "no-ca": a CA made there is the console's internal CA
    authority = CertificateAuthority.create("Console CA", "a passphrase", directory=tmp_path / "no-ca",
                                            key_type="p256")
    kept = authority.issue("ivy@example.org", key_type="p256")
    revoked = authority.issue("rex@example.org", key_type="p256")
    authority.revoke(revoked.record.serial, "keyCompromise")
    directory = Directory(console.store)
    for issued in (kept, revoked):
        directory.add(issued.certificate, source="ca")
    good = root.get(f"/api/v1/certificates/{fingerprint(kept.certificate)}").json()
    assert good["revocation"]["state"] == "Not revoked" and "internal CA" in good["revocation"]["note"]
    assert good["filed"][0]["source_words"] == "issued by the internal CA"
    bad = root.get(f"/api/v1/certificates/{fingerprint(revoked.certificate)}").json()
    assert bad["revocation"]["state"] == "Revoked" and "(keyCompromise)" in bad["revocation"]["note"]
    assert bad["status"] == "Not valid: certificate revoked"
    assert bad["chain"]["certificates"][0]["revocation"] == "Revoked"
    page = root.get(f"/certificates/{fingerprint(revoked.certificate)}")
    assert "✗ Not valid: certificate revoked" in page.text and "Revocation: Revoked" in page.text


def test_a_hostile_certificate_is_shown_escaped(console: Console, root: TestClient, pki: TestPKI) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    hostile = "<script>alert(1)</script>\u202egnp.exe"
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostile)]))
            .issuer_name(pki.intermediate_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("mallory@example.org")]), critical=False)
            .sign(pki.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]
    Directory(console.store).add(cert)
    page = root.get(f"/certificates/{fingerprint(cert)}")
    assert page.status_code == 200
    # RFC 4514 escapes the angle brackets (\<), and the page escapes them again; the bidi override is made visible
    assert "<script>alert" not in page.text and "CN=\\&lt;script\\&gt;alert(1)" in page.text
    assert "\u202e" not in page.text and page.text.count("[U+202E]") >= 3
    start = page.text.index("<svg")
    svg = ET.fromstring(page.text[start:page.text.index("</svg>", start) + len("</svg>")])
    assert "[U+202E]" in " ".join(t.text or "" for t in svg.iter(SVG + "text"))
    listed = root.get("/certificates", params={"address": "mallory"})
    assert "<script>alert" not in listed.text and "mallory@example.org" in listed.text

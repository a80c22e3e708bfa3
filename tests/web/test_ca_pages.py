"""The Internal CA page and /api/v1/ca over a real SQLite store and a CA the test creates: list, issue (the
PKCS#12 opens with the typed password and holds a certificate the CA signed; the store's register has it), a wrong
CA passphrase refused clearly, revoke with a reason (the next CRL lists it, openssl agrees), every change audited,
auditors read only, re-authentication before issuing and revoking."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint
from mailseal.cms.names import serial_text
from mailseal.pki.authority import REASONS, USAGES, USER_KEY_TYPES, CertificateAuthority
from mailseal.store import events
from mailseal.store.ca_register import StoredRegister
from mailseal.web import api_ca, service_ca
from tests.web.ca_support import CA_PASSPHRASE, CRL_URL, OCSP_URL, P12_PASSWORD, issue, make_ca, opened
from tests.web.certs_support import reauth
from tests.web.conftest import Console, csrf_of


def _register(console: Console, ca: CertificateAuthority) -> StoredRegister:
    return StoredRegister(console.store, fingerprint(ca.certificate))


def _p12_info(tmp_path: Path, data: bytes) -> str:
    (tmp_path / "issued.p12").write_bytes(data)
    out = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(tmp_path / "issued.p12"),
                          "-passin", f"pass:{P12_PASSWORD}"], capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def _openssl_verifies(tmp_path: Path, ca: CertificateAuthority, cert: x509.Certificate) -> None:
    (tmp_path / "ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    # smimesign only: openssl's smimeencrypt purpose asks for keyEncipherment, which an EC key never has
    out = subprocess.run(["openssl", "verify", "-purpose", "smimesign", "-CAfile", str(tmp_path / "ca.pem"),
                          str(tmp_path / "leaf.pem")], capture_output=True, text=True)
    assert out.returncode == 0 and ": OK" in out.stdout, out.stdout + out.stderr


def test_without_a_ca_the_page_says_how_to_make_one(console: Console, root: TestClient) -> None:
    page = root.get("/ca")
    assert page.status_code == 200 and "There is no CA yet" in page.text and "mailseal ca init --name" in page.text
    missing = root.get("/api/v1/ca")
    assert missing.status_code == 404 and "mailseal ca init" in missing.json()["detail"]
    assert root.get("/api/v1/ca/crl").status_code == 404
    assert 'href="/ca"' in root.get("/").text  # in the navigation


def test_issue_then_list_with_the_register_in_the_store(console: Console, root: TestClient, tmp_path: Path) -> None:
    ca = make_ca(console, tmp_path)
    reauth(root)
    answer = issue(root, "alice@example.org")
    assert answer.status_code == 201, answer.text  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    cert = opened(body)
    cert.verify_directly_issued_by(ca.certificate)  # signed by this CA
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == ["alice@example.org"]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(base64.b64decode(body["pkcs12"]), b"not the password")
    assert body["certificate"]["status"] == "valid" and body["filename"].endswith(".p12")
    stored = _register(console, ca).find(cert.serial_number)
    assert stored is not None and stored.email == "alice@example.org" and stored.der == cert.public_bytes(Encoding.DER)
    assert not (tmp_path / "ca" / "ca.db").exists()  # the register is the store's, not a file
    if shutil.which("openssl"):  # the peer agrees: an S/MIME certificate of this CA, in a PBES2 AES-256 PKCS#12
        assert "AES-256-CBC" in _p12_info(tmp_path, base64.b64decode(body["pkcs12"]))
        _openssl_verifies(tmp_path, ca, cert)
    # the page issues too: the answer is the PKCS#12 itself, as a download
    form = root.post("/ca/issue", data={"email": "bob@example.org", "usage": "sign", "key_type": "p256",
                                         "days": "10", "pkcs12_password": P12_PASSWORD,
                                         "ca_passphrase": CA_PASSPHRASE, "csrf_token": csrf_of(root)})
    assert form.status_code == 200 and form.headers["content-type"] == "application/pkcs12"
    assert "attachment" in form.headers["content-disposition"] and form.headers["cache-control"] == "no-store"
    _, bob, _ = pkcs12.load_key_and_certificates(form.content, P12_PASSWORD.encode())
    assert bob is not None and bob.issuer == ca.certificate.subject
    listed = root.get("/api/v1/ca").json()
    assert listed["subject"] == "CN=mailseal Test Internal CA" and listed["key_type"] == "EC secp256r1"
    assert listed["crl_url"] == CRL_URL and listed["ocsp"]["in_certificates"] and listed["crl"] is None
    assert [i["email"] for i in listed["certificates"]["items"]] == ["bob@example.org", "alice@example.org"]
    assert listed["certificates"]["total"] == 2
    one = root.get("/api/v1/ca", params={"limit": 1, "offset": 1}).json()["certificates"]
    assert [i["email"] for i in one["items"]] == ["alice@example.org"] and one["next_offset"] is None
    page = root.get("/ca")
    assert page.status_code == 200 and "bob@example.org" in page.text and "✓ valid" in page.text
    assert OCSP_URL in page.text and "mailseal ca ocsp" in page.text and "none published yet" in page.text
    assert P12_PASSWORD not in page.text and CA_PASSPHRASE not in page.text
    issued = [e for e in events(console.store) if e.action == "ca.issue"]
    assert sorted(e.detail["email"] for e in issued) == ["alice@example.org", "bob@example.org"]
    assert all(e.actor.startswith("web:root (") for e in issued)
    assert all(P12_PASSWORD not in str(e.detail) and CA_PASSPHRASE not in str(e.detail) for e in issued)


def test_a_wrong_or_missing_ca_passphrase_is_refused_clearly(console: Console, root: TestClient,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = make_ca(console, tmp_path)
    monkeypatch.delenv(service_ca.PASSPHRASE_ENV, raising=False)
    reauth(root)
    wrong = issue(root, "carol@example.org", ca_passphrase="not it at all")
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    assert wrong.json()["code"] == "wrong-password" and wrong.json()["detail"] == "the CA passphrase is wrong"  # type: ignore[attr-defined]
    none = issue(root, "carol@example.org", ca_passphrase=None)
    assert none.status_code == 400 and "needs the CA passphrase" in none.json()["detail"]  # type: ignore[attr-defined]
    form = root.post("/ca/issue", data={"email": "carol@example.org", "pkcs12_password": P12_PASSWORD,
                                         "ca_passphrase": "wrong again", "csrf_token": csrf_of(root)})
    assert form.status_code == 400 and "the CA passphrase is wrong" in form.text and "wrong again" not in form.text
    assert 'value="carol@example.org"' in form.text and P12_PASSWORD not in form.text  # refilled, but no password
    crl = root.post("/ca/crl", data={"ca_passphrase": "wrong", "csrf_token": csrf_of(root)})
    assert crl.status_code == 400 and "the CA passphrase is wrong" in crl.text
    assert _register(console, ca).records() == [] and not (tmp_path / "ca" / "crl.der").exists()
    assert not [e for e in events(console.store) if e.action.startswith("ca.")]
    short = issue(root, "carol@example.org", pkcs12_password="short")
    assert short.status_code == 422  # type: ignore[attr-defined]


def test_the_passphrase_from_the_environment(console: Console, root: TestClient, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    make_ca(console, tmp_path)
    monkeypatch.setenv(service_ca.PASSPHRASE_ENV, CA_PASSPHRASE)
    page = root.get("/ca")
    assert 'name="ca_passphrase"' not in page.text and "The console has the CA passphrase" in page.text
    reauth(root)
    assert issue(root, "dave@example.org", ca_passphrase=None).status_code == 201  # type: ignore[attr-defined]
    published = root.post("/api/v1/ca/crl", json={}, headers={"X-CSRF-Token": csrf_of(root)})
    assert published.status_code == 200 and published.json()["number"] == 1


def test_revoke_with_a_reason_and_the_next_crl_lists_it(console: Console, root: TestClient, tmp_path: Path) -> None:
    ca = make_ca(console, tmp_path)
    reauth(root)
    first = opened(issue(root, "erin@example.org").json())  # type: ignore[attr-defined]
    second = opened(issue(root, "frank@example.org").json())  # type: ignore[attr-defined]
    serial = serial_text(first.serial_number)
    revoked = root.post(f"/api/v1/ca/certificates/{serial}/revoke", json={"reason": "keyCompromise"},
                        headers={"X-CSRF-Token": csrf_of(root)})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["reason"] == "keyCompromise"
    again = root.post(f"/api/v1/ca/certificates/{serial}/revoke", json={}, headers={"X-CSRF-Token": csrf_of(root)})
    assert again.status_code == 400 and "already revoked" in again.json()["detail"]
    unknown = root.post("/api/v1/ca/certificates/abcdef/revoke", json={}, headers={"X-CSRF-Token": csrf_of(root)})
    assert unknown.status_code == 404
    page = root.post(f"/ca/{serial_text(second.serial_number)}/revoke",
                     data={"reason": "superseded", "csrf_token": csrf_of(root)})
    assert page.status_code == 200 and "Revoked frank@example.org" in page.text and "✗ revoked" in page.text
    stored = _register(console, ca).find(second.serial_number)
    assert stored is not None and stored.reason == "superseded"
    published = root.post("/ca/crl", data={"ca_passphrase": CA_PASSPHRASE, "csrf_token": csrf_of(root)})
    assert published.status_code == 200 and "Published CRL 1 (2 revoked" in published.text
    der = root.get("/api/v1/ca/crl")
    assert der.status_code == 200 and der.headers["content-type"] == "application/pkix-crl"
    assert der.content == (tmp_path / "ca" / "crl.der").read_bytes()
    crl = x509.load_der_x509_crl(der.content)
    assert crl.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(first.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert root.get("/ca/crl.der").content == der.content
    listed = root.get("/api/v1/ca").json()
    assert listed["crl"]["number"] == "1" and listed["crl"]["next_update"] is not None
    actions = sorted(e.action for e in events(console.store) if e.action.startswith("ca."))
    assert actions == ["ca.crl", "ca.issue", "ca.issue", "ca.revoke", "ca.revoke"]
    if shutil.which("openssl"):  # the peer agrees: the CRL verifies under the CA and lists the serial
        (tmp_path / "ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
        out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "ca" / "crl.der"),
                              "-CAfile", str(tmp_path / "ca.pem"), "-noout", "-text"],
                             capture_output=True, text=True, check=True)
        assert "verify OK" in out.stderr + out.stdout
        assert format(first.serial_number, "X").zfill(2) in out.stdout.replace(":", "").upper()
        assert "Key Compromise" in out.stdout


def test_an_auditor_reads_but_changes_nothing(console: Console, root: TestClient, tmp_path: Path) -> None:
    ca = make_ca(console, tmp_path)
    reauth(root)
    cert = opened(issue(root, "gina@example.org").json())  # type: ignore[attr-defined]
    serial = serial_text(cert.serial_number)
    eve = console.login("eve")
    token = csrf_of(eve)
    page = eve.get("/ca")
    assert page.status_code == 200 and "gina@example.org" in page.text
    assert "Issue a certificate" not in page.text and "Publish now" not in page.text
    assert eve.get("/api/v1/ca").json()["certificates"]["total"] == 1
    assert issue(eve, "x@example.org").status_code == 403  # type: ignore[attr-defined]
    assert eve.post(f"/api/v1/ca/certificates/{serial}/revoke", json={},
                    headers={"X-CSRF-Token": token}).status_code == 403
    assert eve.post("/api/v1/ca/crl", json={"ca_passphrase": CA_PASSPHRASE},
                    headers={"X-CSRF-Token": token}).status_code == 403
    assert eve.post(f"/ca/{serial}/revoke", data={"csrf_token": token}).status_code == 403
    assert eve.post("/ca/issue", data={"email": "x@example.org", "pkcs12_password": P12_PASSWORD,
                                       "csrf_token": token}).status_code == 403
    assert eve.post("/ca/crl", data={"csrf_token": token}).status_code == 403
    records = _register(console, ca).records()
    assert len(records) == 1 and records[0].revoked_at is None


def test_issuing_and_revoking_need_the_password_again(console: Console, root: TestClient, tmp_path: Path) -> None:
    ca = make_ca(console, tmp_path)
    console.clock.advance(seconds=301)  # the login's password counts for five minutes
    assert "Issuing and revoking ask for your password again first" in root.get("/ca").text
    refused = root.post("/ca/issue", data={"email": "hal@example.org", "pkcs12_password": P12_PASSWORD,
                                            "ca_passphrase": CA_PASSPHRASE, "csrf_token": csrf_of(root)})
    assert refused.status_code == 303 and refused.headers["location"] == "/reauth?next=/ca"
    api = issue(root, "hal@example.org")
    assert api.status_code == 403 and "password again" in api.json()["detail"]  # type: ignore[attr-defined]
    assert _register(console, ca).records() == []
    reauth(root)
    cert = opened(issue(root, "hal@example.org").json())  # type: ignore[attr-defined]
    console.clock.advance(seconds=301)
    serial = serial_text(cert.serial_number)
    assert root.post(f"/ca/{serial}/revoke", data={"csrf_token": csrf_of(root)}).status_code == 303
    assert root.post(f"/api/v1/ca/certificates/{serial}/revoke", json={},
                     headers={"X-CSRF-Token": csrf_of(root)}).status_code == 403
    found = _register(console, ca).find(cert.serial_number)
    assert found is not None and found.revoked_at is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_a_legacy_pkcs12_for_old_importers(console: Console, root: TestClient, tmp_path: Path) -> None:
    make_ca(console, tmp_path)
    reauth(root)
    answer = issue(root, "ivan@example.org", legacy=True)
    assert answer.status_code == 201  # type: ignore[attr-defined]
    info = _p12_info(tmp_path, base64.b64decode(answer.json()["pkcs12"]))  # type: ignore[attr-defined]
    assert "TripleDES" in info and "AES-256" not in info
    assert [e.detail["legacy"] for e in events(console.store) if e.action == "ca.issue"] == [True]


def test_the_api_choices_are_the_cas() -> None:
    from typing import get_args

    assert get_args(api_ca.Usage) == USAGES
    assert get_args(api_ca.KeyType) == USER_KEY_TYPES
    assert get_args(api_ca.Reason) == tuple(REASONS)

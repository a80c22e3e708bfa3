"""The verify page (TestClient): a valid, a tampered and a wrapped message, an encrypted one, garbage, hostile
HTML; the download links; the audit events; auditors may verify."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography import x509
from starlette.testclient import TestClient

import mailseal
from mailseal.cms.names import serial_text
from mailseal.errors import UsageError
from mailseal.store.audit import events
from mailseal.web import service_verify
from mailseal.web.tokens_verify import LIFETIME, download_key, unseal
from tests.support.messages import ident
from tests.support.testpki import TestPKI
from tests.web.conftest import Console, csrf_of
from tests.web.verify_support import GARBAGE, REMOTE, Messages, messages, trust_test_root


@pytest.fixture(scope="module")
def built(pki: TestPKI) -> Messages:
    return messages(pki)


@pytest.fixture
def trusted(console: Console, pki: TestPKI) -> Iterator[Console]:
    trust_test_root(console.store, pki)
    yield console


def upload(client: TestClient, message: bytes, name: str = "message.eml") -> tuple[int, str]:
    answer = client.post("/verify", data={"csrf_token": csrf_of(client)},
                         files={"file": (name, message, "message/rfc822")})
    return answer.status_code, answer.text


def verdict(page: str) -> str:
    found = re.search(r'<h2 id="report-verdict">(.*?)</h2>', page, re.S)
    assert found is not None, page[:2000]
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_page_shows_the_form(trusted: Console, root: TestClient) -> None:
    page = root.get("/verify")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and 'href="/static/report.css"' in page.text
    assert '<a href="/verify" aria-current="page">Verify</a>' in page.text


def test_valid_message_is_valid(trusted: Console, root: TestClient, built: Messages) -> None:
    status, page = upload(root, built.valid)
    assert status == 200
    assert verdict(page) == "Valid, revocation unknown"
    assert "Alice &lt;alice@example.org&gt;" in page and "File: message.eml" in page


def test_tampered_message_is_content_altered(trusted: Console, root: TestClient, built: Messages) -> None:
    status, page = upload(root, built.tampered)
    assert status == 200
    assert verdict(page) == "Invalid: content altered"
    assert "altered" in page and "Valid" not in verdict(page)


def test_signed_part_wrapped_in_unsigned_text_is_not_valid(trusted: Console, root: TestClient,
                                                          built: Messages) -> None:
    status, page = upload(root, built.wrapped)
    assert status == 200
    assert verdict(page) == "Not signed: only a part is signed"
    assert "Covers this part only" in page


def test_without_the_root_in_the_trust_list_the_signer_is_not_trusted(console: Console, root: TestClient,
                                                                      built: Messages) -> None:
    status, page = upload(root, built.valid)
    assert status == 200 and "Valid" not in verdict(page)


def test_encrypted_message_names_its_recipients_and_mailseal_open(trusted: Console, root: TestClient,
                                                                  built: Messages, pki: TestPKI) -> None:
    status, page = upload(root, built.encrypted)
    assert status == 200
    assert "Encrypted: not opened here" in page and "<code>mailseal open</code>" in page
    bob = pki.user("bob").cert
    assert f"{serial_text(bob.serial_number)}" in page.lower().replace(":", "")
    assert 'id="report-verdict"' not in page


def test_signed_encrypted_signed_shows_the_outer_signature_and_the_closed_layer(trusted: Console, root: TestClient,
                                                                             pki: TestPKI) -> None:
    alice = ident(pki.user("alice"))
    bob = pki.user("bob").cert
    triple = mailseal.sign(mailseal.encrypt(mailseal.sign(built_message(), alice), [bob]), alice)
    status, page = upload(root, triple)
    assert status == 200
    assert verdict(page).startswith("Valid")  # the outer signature, which counts for the message as received
    assert "Layer 2: Encrypted" in page and "Not opened: no key here" in page
    assert f"serial {serial_text(bob.serial_number)}" in page and "a signature inside it was not checked" in page


def built_message() -> bytes:
    return (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: triple\r\n"
            b"Date: Mon, 07 Dec 2026 12:00:00 +0000\r\nMessage-ID: <triple@example.org>\r\n\r\nInside.\r\n")


def test_pasted_message_is_verified(trusted: Console, root: TestClient, built: Messages) -> None:
    answer = root.post("/verify", data={"csrf_token": csrf_of(root), "message": built.valid.decode()},
                       files={"file": ("", b"", "application/octet-stream")})
    assert answer.status_code == 200 and verdict(answer.text) == "Valid, revocation unknown"


@pytest.mark.parametrize("garbage", GARBAGE, ids=["empty", "blank", "der-like", "broken-cms"])
def test_garbage_is_a_clear_error_not_a_traceback(trusted: Console, root: TestClient, garbage: bytes) -> None:
    status, page = upload(root, garbage)
    assert status == 400, page[:500]
    assert 'id="verify-error"' in page and "Could not verify" in page
    assert "Traceback" not in page and 'enctype="multipart/form-data"' in page


def test_html_and_remote_content_are_never_rendered(trusted: Console, root: TestClient, built: Messages) -> None:
    status, page = upload(root, built.html)
    assert status == 200 and verdict(page) == "Valid, revocation unknown"
    assert REMOTE not in page and "<script>document" not in page and "rendered words" not in page
    assert "<img" not in page and "<iframe" not in page
    assert "Newsletter" in page  # the headers are shown, the body is not


def test_downloads_give_the_certificates_and_the_signature(trusted: Console, root: TestClient, built: Messages,
                                                          pki: TestPKI) -> None:
    _status, page = upload(root, built.valid)
    links = re.findall(r'href="(/verify/download/[^"]+)"', page)
    assert len(links) >= 3  # signer, intermediate or anchor, and the .p7s
    bodies = [root.get(link.replace("&amp;", "&")) for link in links]
    assert all(b.status_code == 200 for b in bodies)
    pems = [b.content for b in bodies if b.headers["content-type"].startswith("application/x-pem-file")]
    alice = pki.user("alice").cert
    loaded = [x509.load_pem_x509_certificate(p) for p in pems]
    assert alice in loaded
    p7s = [b for b in bodies if b.headers["content-type"].startswith("application/pkcs7-signature")]
    assert len(p7s) == 1 and 'filename="smime.p7s"' in p7s[0].headers["content-disposition"]
    signature = next(ln for ln in built.valid.split(b"\r\n--")
                 if b"Content-Type: application/pkcs7-signature" in ln).split(b"\r\n\r\n", 1)[1]
    assert p7s[0].content == base64.b64decode(signature)


def test_a_forged_or_expired_link_is_refused(trusted: Console, root: TestClient, built: Messages) -> None:
    _, page = upload(root, built.valid)
    link = re.findall(r'href="(/verify/download/[^"]+)"', page)[0]
    version, body, mac = link.rsplit("/", 1)[1].split(".")
    forged = root.get(f"/verify/download/{version}.{body}.{'A' * len(mac)}")
    assert forged.status_code == 400 and "not valid" in forged.text
    # a link outlives no LIFETIME (the session's idle timeout is shorter: the token is checked directly)
    key = download_key(trusted.app.state.console)
    token = link.rsplit("/", 1)[1]
    assert unseal(key, token, trusted.clock.now + LIFETIME)[0] in ("cert", "p7s")
    with pytest.raises(UsageError, match="expired"):
        unseal(key, token, trusted.clock.now + LIFETIME + timedelta(seconds=2))
    with pytest.raises(UsageError, match="not valid"):
        unseal(b"k" * 32, token, trusted.clock.now)


def test_each_verification_is_audited_without_the_body(trusted: Console, root: TestClient,
                                                       built: Messages) -> None:
    upload(root, built.valid)
    upload(root, built.tampered)
    upload(root, GARBAGE[2])
    recorded = events(trusted.store, service_verify.ACTION)
    found = sorted((e.subject, e.detail["verdict"]) for e in recorded)
    assert found == [("(no Message-ID)", "unreadable (malformed-cms)"), ("<t1@example.org>", "invalid-signature"),
                     ("<t1@example.org>", "valid")], found
    assert all(e.actor.startswith("web:root (") for e in recorded)
    assert all("this is a test" not in str(e.detail) for e in recorded)


def test_an_auditor_may_verify(trusted: Console, root: TestClient, built: Messages) -> None:
    eve = trusted.login("eve")
    status, page = upload(eve, built.valid)
    assert status == 200 and verdict(page) == "Valid, revocation unknown"


def test_verify_needs_the_csrf_token_and_a_session(trusted: Console, root: TestClient, built: Messages) -> None:
    answer = root.post("/verify", data={"csrf_token": "wrong"}, files={"file": ("m.eml", built.valid)})
    assert answer.status_code == 403
    anonymous = trusted.client().get("/verify")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"


def test_size_limits_are_clear_errors(trusted: Console, root: TestClient, built: Messages) -> None:
    huge = built.valid + b"x" * service_verify.MAX_MESSAGE
    status, page = upload(root, huge)
    assert status == 400 and "larger than 25 MiB" in page and "mailseal verify" in page
    pasted = root.post("/verify", data={"csrf_token": csrf_of(root), "message": "x" * (1024 * 1024 + 1)},
                       files={"file": ("", b"", "application/octet-stream")})
    assert pasted.status_code in (400, 413) and "Traceback" not in pasted.text
    assert "maximum size of 1024KB" in pasted.text  # Starlette's form limit, as the form says: up to 1 MiB


def test_the_file_name_is_escaped(trusted: Console, root: TestClient, built: Messages) -> None:
    status, page = upload(root, built.valid, name='<img src=x onerror="alert(1)">.eml')
    assert status == 200 and "<img src=x" not in page
    assert "File: &lt;img src=x onerror=%22alert(1)%22&gt;.eml" in page  # the client sends quotes as %22

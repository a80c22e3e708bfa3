"""What the reader sees of a message in the portal: the sender's signature judged with the store's trust list
(valid, or not trusted without the root), images carried in the message only when asked for, and the brand's
colour and logo served by the portal itself."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.policy.portal_settings import parse_portal
from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.store.trust import StoredTrust
from mailseal.web.portal_app import create_portal_app
from tests.support.testpki import TestPKI
from tests.web.conftest import Clock
from tests.web.portal_flow import BOB, code_in, csrf
from tests.web.portal_support import MARKER, PNG

ALICE = "alice@example.org"


def _signed(pki: TestPKI) -> bytes:
    alice = pki.user("portal-alice", email=ALICE)
    msg = EmailMessage()
    msg["From"] = ALICE
    msg["To"] = BOB
    msg["Subject"] = "Signed figures"
    msg.set_content(f"{MARKER} signed\n")
    msg.add_alternative('<p>Logo: <img src="cid:logo@example.org" alt="logo"></p>', subtype="html")
    msg.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@example.org>")
    return api.sign(msg.as_bytes(), Identity(alice.key, alice.cert, tuple(alice.chain)))  # type: ignore[arg-type]


class Reading:
    def __init__(self, store: Store, app: object, messages: PortalStore, pki: TestPKI) -> None:
        self.store, self.app, self.messages, self.pki = store, app, messages, pki

    def read(self, raw: bytes) -> tuple[TestClient, str]:
        """A client signed in as Bob on a new message ``raw``: the client and the message's page path."""
        tokens = self.messages.deposit(raw, ALICE, [BOB], brand="example.org").tokens
        client = TestClient(self.app, base_url="https://testserver", follow_redirects=False)  # type: ignore[arg-type]
        landing = client.get(f"/m/{tokens[BOB]}")
        client.post(f"/m/{tokens[BOB]}/code", data={"address": BOB, "csrf_token": csrf(landing.text)})
        code = code_in([i for i in self.messages.claim("t") if i.kind == "passcode"][-1].content)
        opened = client.post(f"/m/{tokens[BOB]}/open", data={"address": BOB, "code": code,
                                                              "csrf_token": csrf(landing.text)})
        assert opened.status_code == 303
        return client, opened.headers["location"]


@pytest.fixture
def reading(tmp_path: Path, pki: TestPKI) -> Iterator[Reading]:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    settings = parse_portal({"portal": {"brands": {"example.org": {
        "logo": str(logo), "background_colour": "#003366", "portal_text": "Example Org's secure mail.",
        "disclaimer": "Confidential.", "privacy_statement_url": "https://example.org/privacy"}}}})
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    key = secrets.token_bytes(32)
    try:
        yield Reading(store, create_portal_app(store, settings, key=key, clock=Clock()), PortalStore(store, key), pki)
    finally:
        store.close()


def test_a_signed_original_shows_its_signature(reading: Reading) -> None:
    raw = _signed(reading.pki)
    client, path = reading.read(raw)
    untrusted = client.get(path)
    assert "Signed figures" in untrusted.text and "Sender's signature: Not trusted" in untrusted.text
    StoredTrust(reading.store).add([reading.pki.root_cert], actor="test")
    trusted = client.get(path)
    assert 'class="signature good"' in trusted.text and "Sender's signature: Valid" in trusted.text
    assert ALICE in trusted.text.split('id="signature"')[1].split("</p>")[0]


def test_images_in_the_message_only_when_asked(reading: Reading) -> None:
    client, path = reading.read(_signed(reading.pki))
    off = client.get(path)
    assert "/cid/" not in off.text and "Show the images carried in the message" in off.text
    on = client.get(path, params={"images": "1"})
    assert f'src="{path}/cid/logo%40example.org"' in on.text and "Hide images" in on.text
    image = client.get(f"{path}/cid/logo%40example.org")
    assert image.status_code == 200 and image.content == PNG and image.headers["content-type"] == "image/png"


def test_the_brand_is_served_by_the_portal(reading: Reading) -> None:
    client, path = reading.read(_signed(reading.pki))
    page = client.get(path)
    for shown in ('href="/brand/example.org.css"', 'src="/brand/example.org/logo"', "Example Org&#39;s secure mail.",
                  "Confidential.", 'href="https://example.org/privacy"'):
        assert shown in page.text, shown
    css = client.get("/brand/example.org.css")
    assert css.status_code == 200 and "#003366" in css.text and css.headers["content-type"].startswith("text/css")
    logo = client.get("/brand/example.org/logo")
    assert logo.status_code == 200 and logo.content == PNG
    assert client.get("/brand/default/logo").status_code == 404
    assert "#ffffff" in client.get("/brand/default.css").text


def test_brands_follow_the_settings_in_force(tmp_path: Path) -> None:
    """Under `mailseal serve` the portal reads the gateway's settings after a reload (SIGHUP): a brand's words
    change without a restart."""
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    key = secrets.token_bytes(32)
    try:
        in_force = [parse_portal({"portal": {"brands": {"example.org": {"portal_text": "Before the reload."}}}})]
        app = create_portal_app(store, in_force[0], key=key, source=lambda: in_force[0])
        token = PortalStore(store, key).deposit(b"Subject: x\r\n\r\ny\r\n", ALICE, [BOB], brand="example.org").tokens[BOB]
        client = TestClient(app, base_url="https://testserver")
        assert "Before the reload." in client.get(f"/m/{token}").text
        in_force[0] = parse_portal({"portal": {"brands": {"example.org": {"portal_text": "After the reload."}}}})
        assert "After the reload." in client.get(f"/m/{token}").text
    finally:
        store.close()

"""Must-show 1 of issue 16, end to end over real sockets and a real browser (Debian chromium driven by Playwright):
SMTP in to the running gateway (policy ``encrypt = "portal"``) -> the notification at the sink, with no content ->
its link opened in the portal (served by uvicorn on the gateway's store) -> a passcode asked for -> the passcode
mail read from the sink (signed by the gateway) -> the message shown -> a reply sent -> the reply at the sink,
signed by the gateway and encrypted to the sender, threaded under the original. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import email.policy
import re
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.pki.truststore import TrustStore
from mailseal.policy.portal_settings import parse_portal
from mailseal.store import KeyStore
from mailseal.web import portal_server
from mailseal.web.portal_app import create_portal_app
from tests.gateway.harness import Org, RunningGateway, message
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.smtp_sink import SmtpSink, free_port
from tests.support.testpki import TestPKI
from tests.web.portal_flow import code_in
from tests.web.test_browser import WIDTHS, chromium  # noqa: F401

MARKER = "PORTAL-E2E-SECRET-91c2"
DAVE = "dave@partner.example"  # no certificate anywhere: the portal is his only way
ALICE = "alice@example.org"
PORTAL_SENDER = "portal@example.org"


def _parsed(data: bytes) -> EmailMessage:
    parsed = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text(data: bytes) -> str:
    return "\n".join(p.get_content() for p in _parsed(data).walk()
                     if p.get_content_type() in ("text/plain", "text/html"))


@pytest.fixture
def running(pki: TestPKI, tmp_path: Path) -> Iterator[tuple[RunningGateway, SmtpSink, str, Org]]:
    """The gateway (portal policy, outbox drained every 0.2 s) relaying to a sink, and the portal on its store."""
    org = Org.make(pki)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {"policy": {"encrypt": "portal"},
                "portal": {"base_url": url + "/", "outbox_poll_seconds": 0.2, "sender": PORTAL_SENDER,
                           "listen": f"127.0.0.1:{port}"}}
    home = tmp_path / "gw"
    home.mkdir()
    with SmtpSink() as sink, RunningGateway(org, home, sink, settings) as gw:
        agent = pki.user("e2e-portal", email=PORTAL_SENDER)
        KeyStore(gw.store, PASSPHRASE, scrypt=FAST_SCRYPT).add(
            Identity(agent.key, agent.cert, tuple(agent.chain)))  # type: ignore[arg-type]
        served = portal_server.server(create_portal_app(gw.store, parse_portal(gw.settings_dict)), "127.0.0.1", port)
        sock = portal_server.bind("127.0.0.1", port)
        thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            yield gw, sink, url, org
        finally:
            served.should_exit = True
            thread.join(timeout=10)


def _shots(page: object, name: str, folder: Path) -> list[Path]:
    taken = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        path = folder / f"e2e-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        taken.append(path)
    page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]
    return taken


def test_smtp_in_notification_passcode_read_reply_out(running: tuple[RunningGateway, SmtpSink, str, Org],
                                                      chromium: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    gw, sink, url, org = running
    trust = TrustStore(anchors=(org.pki.root_cert,))
    original = message(ALICE, [DAVE], "Quarterly figures", f"The figures: {MARKER}\n")
    original_id = str(original["Message-ID"])
    assert gw.send(original, ALICE, [DAVE]) == {}

    # the notification: to Dave alone, no content, a link into the portal
    [notice] = sink.wait_for(1)
    assert notice.rcpt_tos == [DAVE] and MARKER.encode() not in notice.data
    opened_notice = api.open(notice.data, trust=trust)
    assert MARKER not in _text(opened_notice.message)
    links = set(re.findall(re.escape(url) + r"/m/[A-Za-z0-9_-]{43}", _text(opened_notice.message)))
    assert len(links) == 1
    [link] = links

    shots: list[Path] = []
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(link)
            expect(page.get_by_role("heading", name="You have received a protected message")).to_be_visible()
            page.get_by_label("Your e-mail address").fill(DAVE)
            page.get_by_role("button", name="Send me a one-time passcode").click()
            reference = page.locator("#reference").inner_text()
            shots += _shots(page, "code", tmp_path)

            # the passcode mail at the sink: signed by the portal's sender, the same reference as the page
            passcode = sink.wait_for(2, timeout=20)[1]
            assert passcode.rcpt_tos == [DAVE] and MARKER.encode() not in passcode.data
            checked = api.verify(passcode.data, trust=trust)
            assert checked.status == "valid" and checked.signers[0].emails == [PORTAL_SENDER]
            mail = api.open(passcode.data, trust=trust).message
            assert reference in str(_parsed(mail)["Subject"])
            page.get_by_label("Passcode").fill(code_in(mail))
            page.get_by_role("button", name="Read the message").click()

            expect(page.get_by_role("heading", name="Quarterly figures")).to_be_visible()
            expect(page.get_by_text(MARKER)).to_be_visible()
            shots += _shots(page, "message", tmp_path)
            page.get_by_label(re.compile("^Reply to")).fill("Thank you, Alice: received.")
            page.get_by_role("button", name="Send reply").click()
            expect(page.get_by_text("Your reply was sent.")).to_be_visible()
            shots += _shots(page, "replied", tmp_path)
        finally:
            browser.close()

    # the reply at the sink: to Alice, signed by the portal's sender and encrypted to her, threaded
    reply = sink.wait_for(3, timeout=20)[2]
    assert reply.rcpt_tos == [ALICE]
    assert b"Thank you, Alice" not in reply.data and b"application/pkcs7-mime" in reply.data
    alice = Identity(org.alice.key, org.alice.cert, tuple(org.alice.chain))  # type: ignore[arg-type]
    opened = api.open(reply.data, [alice], trust=trust)
    assert opened.report.encrypted and opened.report.status == "valid"
    assert opened.report.signers[0].emails == [PORTAL_SENDER]
    inner = _parsed(opened.message)
    assert inner["In-Reply-To"] == original_id and original_id in str(inner["References"])
    assert inner["Reply-To"] == DAVE and str(inner["Subject"]) == "Re: Quarterly figures"
    assert "Thank you, Alice: received." in _text(opened.message)
    assert [u for u in requested if not u.startswith(url + "/")] == []
    assert len(shots) == 6
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

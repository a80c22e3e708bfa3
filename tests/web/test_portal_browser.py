"""The portal in a real browser (Debian chromium driven by Playwright) against the real uvicorn server: the link,
the address, the passcode read from the outbox, the message, a reply; the reference code shown on the page is the
one in the passcode mail; no request leaves the portal; screenshots of each page at 1280 and 390 px."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.web import portal_server
from mailseal.web.portal_app import create_portal_app
from tests.support.smtp_sink import free_port
from tests.web.portal_flow import BOB, CAROL, SENDER, code_in, original
from tests.web.portal_support import MARKER
from tests.web.test_browser import WIDTHS, chromium  # noqa: F401


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, PortalStore, dict[str, str]]]:
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    key = secrets.token_bytes(32)
    messages = PortalStore(store, key)
    made = messages.deposit(original(), SENDER, [BOB, CAROL], brand="example.org")
    port = free_port()
    server = portal_server.server(create_portal_app(store, key=key), "127.0.0.1", port)
    sock = portal_server.bind("127.0.0.1", port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", messages, made.tokens
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def _shots(page: object, name: str, folder: Path) -> list[Path]:
    taken = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        path = folder / f"portal-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        if width == 390:  # the mobile width does not scroll sideways
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # type: ignore[attr-defined]
        taken.append(path)
    page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]
    return taken


def test_read_and_reply_in_the_browser(served: tuple[str, PortalStore, dict[str, str]], chromium: str,  # noqa: F811
                                       tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, messages, tokens = served
    requested: list[str] = []
    violations: list[str] = []
    shots: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{url}/m/{tokens[BOB]}")
            expect(page.get_by_role("heading", name="You have received a protected message")).to_be_visible()
            shots += _shots(page, "landing", tmp_path)
            page.get_by_label("Your e-mail address").fill(BOB)
            page.get_by_role("button", name="Send me a one-time passcode").click()
            expect(page.get_by_role("heading", name="Enter your one-time passcode")).to_be_visible()
            reference = page.locator("#reference").inner_text()
            shots += _shots(page, "code", tmp_path)
            [item] = [i for i in messages.claim("test") if i.kind == "passcode"]
            mail = email.message_from_bytes(item.content, policy=email.policy.default)
            assert isinstance(mail, EmailMessage) and reference in str(mail["Subject"])
            page.get_by_label("Passcode").fill(code_in(item.content))
            page.get_by_role("button", name="Read the message").click()
            expect(page.get_by_role("heading", name="Quarterly figures")).to_be_visible()
            expect(page.get_by_text(MARKER)).to_be_visible()
            shots += _shots(page, "message", tmp_path)
            page.get_by_label(re.compile("^Reply to")).fill("Received, thank you.")
            page.get_by_role("button", name="Send reply").click()
            expect(page.get_by_text("Your reply was sent.")).to_be_visible()
            expect(page.get_by_text("Received, thank you.")).to_be_visible()
            shots += _shots(page, "replied", tmp_path)
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
        finally:
            browser.close()
    assert [i.kind for i in messages.claim("test")] == ["reply"]
    assert violations == []
    assert [u for u in requested if not u.startswith(url + "/")] == []
    assert len(shots) == 8
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

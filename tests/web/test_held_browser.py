"""The Held page in a real browser (Debian's chromium, Playwright) on the real uvicorn server beside a real
gateway: sign in, open Held, release a message the policy held once the recipient's certificate is imported and
another unencrypted after ticking the confirmation, and find both at the sink; screenshots at 1280 and 390 px."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailseal.cli.held_port import RunningGatewayHeld
from mailseal.store.admins import Admins, generate_password
from mailseal.web import server
from mailseal.web.settings import WebSettings
from tests.support.smtp_sink import free_port
from tests.web.conftest import FAST
from tests.web.held_support import DAVE, ERIN, Held, held
from tests.web.test_browser import _shots, chromium, sign_in

__all__ = ["chromium", "held"]


@pytest.fixture
def served(held: Held, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The console with the running gateway's held messages, as `mailseal serve` starts it: (url, password)."""
    password = generate_password()
    Admins(held.gw.store, hasher=FAST).add("admin", password, "admin", actor="test")
    settings = WebSettings(port=free_port(), key_file=tmp_path / "console.key")
    console = server.server(held.gw.store, settings, RunningGatewayHeld(held.gw.gateway))
    thread = threading.Thread(target=console.run, kwargs={"sockets": [server.bind(settings)]}, daemon=True)
    thread.start()
    try:
        yield settings.url.rstrip("/"), password
    finally:
        console.should_exit = True
        thread.join(timeout=10)


def test_release_held_mail_from_the_browser(held: Held, served: tuple[str, str], chromium: str,
                                            tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, password = served
    for_erin = held.hold([ERIN], "quarterly figures", "Figures for erin.\n")
    for_dave = held.hold([DAVE], "lunch", "Lunch for dave.\n")
    held.import_erin()  # erin's certificate arrives after her message was held
    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            sign_in(page, url, "admin", password)

            page.get_by_role("link", name="Held", exact=True).click()
            expect(page.get_by_role("heading", name="Held mail")).to_be_visible()
            expect(page.locator("table.held tbody tr")).to_have_count(2)
            shots += _shots(page, "held", tmp_path)

            page.get_by_role("link", name=for_erin[:12]).click()
            expect(page.get_by_text("Subject: quarterly figures")).to_be_visible()
            assert "Figures for erin" not in page.content()
            shots += _shots(page, "held-message", tmp_path)
            page.get_by_role("button", name="Release", exact=True).click()
            expect(page.get_by_role("status")).to_contain_text(f"Released {for_erin[:12]} to {ERIN}")
            [copy] = held.sink.wait_for(1)
            assert copy.rcpt_tos == [ERIN] and b"Figures for erin" not in copy.data  # encrypted for her

            page.get_by_role("link", name=for_dave[:12]).click()
            page.get_by_role("button", name="Release unencrypted").click()  # not confirmed: the form stays
            expect(page.get_by_role("heading", name=f"Held message {for_dave[:12]}")).to_be_visible()
            assert len(held.sink.messages) == 1
            page.get_by_label("I decide that the held recipients").check()
            page.get_by_role("button", name="Release unencrypted").click()
            expect(page.get_by_role("status")).to_contain_text("without encryption by your decision")
            expect(page.get_by_text("No message is held.")).to_be_visible()
            _, plain = held.sink.wait_for(2)
            assert plain.rcpt_tos == [DAVE] and b"Lunch for dave." in plain.data
        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 4
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

"""The console in a real browser: Debian's chromium driven by Playwright (no browser download), against the real
uvicorn server on 127.0.0.1. Log in with a generated password, enrol the second factor from the secret the page
shows, see the dashboard, filter the audit log, log out; a screenshot of each page at 1280 and 390 px."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from mailseal.store import Store, audit
from mailseal.store.admins import Admins, generate_password
from mailseal.web import server
from mailseal.web.settings import WebSettings
from tests.support.smtp_sink import free_port
from tests.web.conftest import FAST

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """Debian's chromium; skipped without it, failed when MAILSEAL_REQUIRE_PEERS=1 (CI installs it)."""
    if os.access(CHROMIUM, os.X_OK) or shutil.which("chromium"):
        return CHROMIUM if os.access(CHROMIUM, os.X_OK) else str(shutil.which("chromium"))
    message = "chromium not installed (Debian package chromium)"
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"{message}, and MAILSEAL_REQUIRE_PEERS=1")
    pytest.skip(message)


@dataclass
class Running:
    url: str
    password: str
    store: Store


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """The console served by uvicorn (the same server module as `mailseal web`) on a free loopback port."""
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    password = generate_password()
    Admins(store, hasher=FAST).add("root", password, "admin", actor="test")
    with store.session() as session:
        audit.record(session, "gateway.message", "<ok@example.org>",
                     {"result": "accepted", "actions": ["encrypted", "signed"], "held": 0}, "gateway")
        audit.record(session, "gateway.message", "<bad@example.org>",
                     {"result": "refused", "reason": "no certificate for carol@partner.example", "actions": []},
                     "gateway")
    settings = WebSettings(port=free_port(), key_file=tmp_path / "console.key")
    console = server.server(store, settings)
    sock = server.bind(settings)
    thread = threading.Thread(target=console.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Running(settings.url.rstrip("/"), password, store)
    finally:
        console.should_exit = True
        thread.join(timeout=10)
        store.close()


def _shots(page: object, name: str, folder: Path) -> list[Path]:
    taken = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        taken.append(path)
    page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]
    return taken


def sign_in(page: object, url: str, name: str, password: str) -> None:
    """Log in as ``name`` through the forms, enrolling the second factor shown at the first login, and wait for
    the dashboard (the other pages' browser tests start here)."""
    from playwright.sync_api import expect

    page.goto(url + "/login")  # type: ignore[attr-defined]
    page.get_by_label("Account name").fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Continue").click()  # type: ignore[attr-defined]
    secret = page.locator("#totp-secret").inner_text()  # type: ignore[attr-defined]
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # type: ignore[attr-defined]


def test_log_in_enrol_look_filter_log_out(running: Running, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(running.url + "/")
            expect(page).to_have_url(running.url + "/login")
            shots += _shots(page, "login", tmp_path)
            page.get_by_label("Account name").fill("root")
            page.get_by_label("Password").fill(running.password)
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
            expect(page.locator("figure.qr svg")).to_be_visible()
            shots += _shots(page, "totp", tmp_path)
            secret = page.locator("#totp-secret").inner_text()
            page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            assert page.locator("svg.chart").count() == 3
            expect(page.get_by_text("no certificate for carol@partner.example")).to_be_visible()
            # the Secure, __Host- cookie is kept for http://127.0.0.1 (a loopback origin counts as secure)
            cookie = next(c for c in context.cookies() if c["name"] == "__Host-mailseal")
            assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            # the style sheet applied (the CSP allows style-src 'self')
            assert page.locator("header.top").evaluate("e => getComputedStyle(e).display") == "flex"
            shots += _shots(page, "dashboard", tmp_path)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the tables scroll in their box
            page.set_viewport_size({"width": 1280, "height": 900})

            page.get_by_role("link", name="Audit").click()
            expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
            page.get_by_label("Action").fill("gateway.message")
            page.get_by_role("button", name="Filter").click()
            rows = page.locator("table.audit tbody tr")
            expect(rows).to_have_count(2)
            assert "admins.add" not in page.locator("table.audit").inner_text()
            shots += _shots(page, "audit", tmp_path)

            for link, heading in (("Admins", "Console accounts"), ("Sessions", "Sessions")):
                page.get_by_role("link", name=link, exact=True).click()
                expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
                shots += _shots(page, link.lower(), tmp_path)

            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(running.url + "/login")
            page.goto(running.url + "/audit")
            expect(page).to_have_url(running.url + "/login")  # the session ended server-side
        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 12
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

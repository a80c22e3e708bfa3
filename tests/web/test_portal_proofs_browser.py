"""The stronger proofs in a real browser (Debian chromium driven by Playwright) against the real uvicorn server:
a message read with its password, and a portal account enrolled end to end (mailed code, password, TOTP from the
QR page's key) then used to sign in again with password and a later TOTP code; screenshots at 1280 and 390 px; no
request leaves the portal and the CSP is never violated."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.store.portal_accounts import PortalAccounts
from mailseal.web import portal_server
from mailseal.web.portal_app import create_portal_app
from tests.support.smtp_sink import free_port
from tests.web.portal_flow import BOB, SENDER, code_in, original
from tests.web.portal_support import MARKER
from tests.web.test_browser import chromium  # noqa: F401
from tests.web.test_portal_browser import _shots

PASSWORD = "correct horse battery staple"
ACCOUNT_PASSWORD = "my portal password 2026"


@dataclass
class Served:
    url: str
    messages: PortalStore
    accounts: PortalAccounts
    now: list[datetime] = field(default_factory=lambda: [datetime.now(UTC).replace(microsecond=0)])

    def clock(self) -> datetime:
        return self.now[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    key = secrets.token_bytes(32)
    holder = Served("", PortalStore(store, key), PortalAccounts(store, key))
    port = free_port()
    server = portal_server.server(create_portal_app(store, key=key, clock=holder.clock), "127.0.0.1", port)
    sock = portal_server.bind("127.0.0.1", port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    holder.url = f"http://127.0.0.1:{port}"
    try:
        yield holder
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def _browse(served: Served, executable: str, steps: Callable[[object], None]) -> None:
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            steps(page)
        finally:
            browser.close()
    assert violations == []
    assert [u for u in requested if not u.startswith(served.url + "/")] == []


def test_a_password_message_is_read_in_the_browser(served: Served, chromium: str,  # noqa: F811
                                                   tmp_path: Path) -> None:
    from playwright.sync_api import expect

    made = served.messages.deposit(original(), SENDER, [BOB], brand="example.org", now=served.clock())
    served.messages.set_password(made.id, PASSWORD)
    shots: list[Path] = []

    def steps(page: object) -> None:
        page.goto(f"{served.url}/m/{made.tokens[BOB]}")  # type: ignore[attr-defined]
        expect(page.get_by_label("Password from the sender")).to_be_visible()  # type: ignore[attr-defined]
        shots.extend(_shots(page, "password", tmp_path))
        page.get_by_label("Your e-mail address").fill(BOB)  # type: ignore[attr-defined]
        page.get_by_label("Password from the sender").fill("not the password")  # type: ignore[attr-defined]
        page.get_by_role("button", name="Read the message").click()  # type: ignore[attr-defined]
        expect(page.get_by_role("alert")).to_contain_text("do not open the message")  # type: ignore[attr-defined]
        page.get_by_label("Password from the sender").fill(PASSWORD)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Read the message").click()  # type: ignore[attr-defined]
        expect(page.get_by_role("heading", name="Quarterly figures")).to_be_visible()  # type: ignore[attr-defined]
        expect(page.get_by_text(MARKER)).to_be_visible()  # type: ignore[attr-defined]

    _browse(served, chromium, steps)
    assert served.messages.claim("test") == []  # no mail was needed
    assert len(shots) == 2 and all(s.stat().st_size > 2000 for s in shots)


def test_an_account_is_enrolled_and_used_in_the_browser(served: Served, chromium: str,  # noqa: F811
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    made = served.messages.deposit(original(), SENDER, [BOB], brand="example.org", proof="account",
                                   now=served.clock())
    token = made.tokens[BOB]
    shots: list[Path] = []
    found: dict[str, str] = {}

    def steps(page: object) -> None:
        p = page  # Playwright's Page (untyped here)
        p.goto(f"{served.url}/m/{token}")  # type: ignore[attr-defined]
        expect(p.get_by_role("heading", name="First visit?")).to_be_visible()  # type: ignore[attr-defined]
        shots.extend(_shots(p, "account-landing", tmp_path))
        p.locator("#enrol-address").fill(BOB)  # type: ignore[attr-defined]
        p.get_by_role("button", name="Send me a one-time passcode").click()  # type: ignore[attr-defined]
        expect(p.get_by_role("heading", name="Enter your one-time passcode")).to_be_visible()  # type: ignore[attr-defined]
        [item] = [i for i in served.messages.claim("test") if i.kind == "passcode"]
        p.get_by_label("Passcode").fill(code_in(item.content))  # type: ignore[attr-defined]
        p.get_by_role("button", name="Read the message").click()  # type: ignore[attr-defined]
        expect(p.get_by_role("heading", name="Set up your portal account")).to_be_visible()  # type: ignore[attr-defined]
        expect(p.locator(".qr svg")).to_be_visible()  # type: ignore[attr-defined]
        shots.extend(_shots(p, "account-enrol", tmp_path))
        secret = p.locator("#secret").inner_text()  # type: ignore[attr-defined]
        found["secret"] = secret
        p.get_by_label("New password (at least 12 characters)").fill(ACCOUNT_PASSWORD)  # type: ignore[attr-defined]
        p.get_by_label("The same password again").fill(ACCOUNT_PASSWORD)  # type: ignore[attr-defined]
        p.get_by_label("Code from the authenticator app").fill(pyotp.TOTP(secret).at(served.clock()))  # type: ignore[attr-defined]
        p.get_by_role("button", name="Set up my account").click()  # type: ignore[attr-defined]
        expect(p.get_by_role("heading", name="Your protected messages")).to_be_visible()  # type: ignore[attr-defined]
        p.get_by_role("link", name=f"From {SENDER}").click()  # type: ignore[attr-defined]
        expect(p.get_by_text(MARKER)).to_be_visible()  # type: ignore[attr-defined]
        p.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
        expect(p.get_by_role("heading", name="Signed out")).to_be_visible()  # type: ignore[attr-defined]
        # a later visit: password and TOTP, no mailed code; the enrolment's code does not work twice
        p.goto(f"{served.url}/m/{token}")  # type: ignore[attr-defined]
        p.get_by_label("Your e-mail address", exact=True).fill(BOB)  # type: ignore[attr-defined]
        p.get_by_label("Password", exact=True).fill(ACCOUNT_PASSWORD)  # type: ignore[attr-defined]
        p.get_by_label("Code from the authenticator app").fill(pyotp.TOTP(secret).at(served.clock()))  # type: ignore[attr-defined]
        p.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
        expect(p.get_by_role("alert")).to_contain_text("do not sign you in")  # type: ignore[attr-defined]
        served.now[0] += timedelta(seconds=30)
        p.get_by_label("Your e-mail address", exact=True).fill(BOB)  # type: ignore[attr-defined]
        p.get_by_label("Password", exact=True).fill(ACCOUNT_PASSWORD)  # type: ignore[attr-defined]
        p.get_by_label("Code from the authenticator app").fill(pyotp.TOTP(secret).at(served.clock()))  # type: ignore[attr-defined]
        p.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
        expect(p.get_by_role("heading", name="Quarterly figures")).to_be_visible()  # type: ignore[attr-defined]
        expect(p.get_by_text(MARKER)).to_be_visible()  # type: ignore[attr-defined]

    _browse(served, chromium, steps)
    account = served.accounts.get(BOB)
    assert account is not None and account.enrolled and account.last_sign_in == served.clock()
    assert served.messages.claim("test") == []  # the second visit mailed nothing
    assert len(shots) == 4 and all(s.stat().st_size > 2000 for s in shots)

"""The console's Portal page in a real browser (Debian chromium driven by Playwright): the list, a message with its
recipients and accesses, extend and revoke by an admin, the recipients' portal accounts with a reset; screenshots
at 1280 and 390 px."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyotp

from mailseal.store.portal import PortalStore
from mailseal.store.portal_accounts import PortalAccounts
from mailseal.store.portal_key import portal_key
from tests.web.portal_flow import BOB, CAROL, SENDER, original
from tests.web.test_browser import WIDTHS, Running, chromium, running, sign_in  # noqa: F401


def test_portal_page_list_show_extend_revoke(running: Running, chromium: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    made = PortalStore(running.store, portal_key()).deposit(original(), SENDER, [BOB, CAROL], brand="example.org")
    accounts = PortalAccounts(running.store, portal_key())
    now = datetime.now(UTC)
    secret = accounts.begin_enrolment(BOB, now)
    assert accounts.enrol(BOB, "a long portal password", pyotp.TOTP(secret).at(now), now)
    shots: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            sign_in(page, running.url, "root", running.password)
            page.get_by_role("link", name="Portal", exact=True).click()
            expect(page.get_by_role("heading", name="Portal messages")).to_be_visible()
            expect(page.locator("table.portal-list tbody tr")).to_have_count(1)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                shots.append(tmp_path / f"console-portal-list-{width}.png")
                page.screenshot(path=str(shots[-1]), full_page=True)
                assert page.evaluate("() => document.documentElement.scrollWidth") <= max(width, 390)
            page.set_viewport_size({"width": 1280, "height": 900})
            page.get_by_role("link", name=made.id[:12]).click()
            expect(page.get_by_role("heading", name=f"Portal message {made.id[:12]}")).to_be_visible()
            expect(page.get_by_role("cell", name=CAROL)).to_be_visible()
            page.get_by_label("Days more").fill("30")
            page.get_by_role("button", name="Extend").click()
            expect(page.get_by_text("The message was extended.")).to_be_visible()
            page.get_by_label("Note for the recipients").fill("sent to the wrong people")
            page.get_by_role("button", name="Revoke").click()
            expect(page.locator("#portal-state")).to_have_text("revoked (sent to the wrong people)")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                shots.append(tmp_path / f"console-portal-show-{width}.png")
                page.screenshot(path=str(shots[-1]), full_page=True)
                assert page.evaluate("() => document.documentElement.scrollWidth") <= max(width, 390)
            page.set_viewport_size({"width": 1280, "height": 900})
            page.get_by_role("link", name="← Portal messages").click()
            page.get_by_role("link", name="Recipients' portal accounts").click()
            expect(page.get_by_role("heading", name="Portal accounts")).to_be_visible()
            expect(page.get_by_role("cell", name=BOB)).to_be_visible()
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                shots.append(tmp_path / f"console-portal-accounts-{width}.png")
                page.screenshot(path=str(shots[-1]), full_page=True)
                assert page.evaluate("() => document.documentElement.scrollWidth") <= max(width, 390)
            page.get_by_role("button", name="Reset").click()
            expect(page.get_by_text("The account was reset.")).to_be_visible()
        finally:
            browser.close()
    shown = PortalStore(running.store, None).show(made.id)
    assert shown.state == "revoked" and shown.revoked_note == "sent to the wrong people"
    assert {a.action for a in shown.accesses} >= {"portal.extend", "portal.revoke"}
    assert not accounts.get(BOB).enrolled  # type: ignore[union-attr]
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

"""The Users and Domains pages in a real browser (Debian's chromium through Playwright, the real uvicorn server):
add a submission account through the form, see its one-time password and the account listed, check the password
works as SMTP AUTH checks it, then open Domains; screenshots of both pages at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailseal.store.users import Users
from tests.web.test_browser import Running, _shots, chromium, running, sign_in

__all__ = ["chromium", "running"]

SETTINGS = """
[gateway]
accepted_domains = ["example.org", "*.corp.example"]

[policy.domains."example.org"]
encrypt = "require"
"""
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mailseal.toml"
    path.write_text(SETTINGS)
    monkeypatch.setenv("MAILSEAL_CONFIG", str(path))
    return path


def test_add_a_user_then_open_domains(running: Running, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            sign_in(page, running.url, "root", running.password)

            page.get_by_role("link", name="Users", exact=True).click()
            expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
            page.get_by_label("User name").fill("scanner")
            page.get_by_label("Addresses it may send as (commas or spaces)").fill(
                "scanner@example.org, copier@dept.corp.example")
            page.get_by_role("button", name="Add account").click()
            expect(page.locator("#user-shown")).to_contain_text("scanner added")
            password = page.locator("#new-password").inner_text()
            row = page.locator("#users tbody tr", has_text="scanner")
            expect(row).to_contain_text("copier@dept.corp.example")
            expect(row).to_contain_text("✓ enabled")
            assert Users(running.store).authenticate("scanner", password.encode()) is not None
            shots += _shots(page, "users", tmp_path)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            page.set_viewport_size({"width": 1280, "height": 900})

            page.get_by_role("link", name="Domains", exact=True).click()
            expect(page.get_by_role("heading", name="Domains", exact=True)).to_be_visible()
            table = page.locator("#domains tbody")
            expect(table.locator("tr")).to_have_count(2)
            org = table.locator("tr", has_text="example.org").first
            expect(org).to_contain_text("entry example.org")
            expect(org).to_contain_text("encrypt: require (domain example.org)")
            expect(org.locator("td").nth(1)).to_have_text("1")  # one submission account there: scanner
            expect(table.locator("tr", has_text="*.corp.example")).to_contain_text("no entry")
            shots += _shots(page, "domains", tmp_path)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 4
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(PNG) and len(data) > 1000

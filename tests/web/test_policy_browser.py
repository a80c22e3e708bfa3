"""The policy page in a real browser (Debian's chromium through Playwright, the real uvicorn server): log in, run
the tester, change a domain's setting, run the tester again and see the decision change; screenshots of the page
at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.policy_support import SETTINGS
from tests.web.test_browser import Running, _shots, chromium, running, sign_in

__all__ = ["chromium", "running"]


@pytest.fixture(autouse=True)
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mailseal.toml"
    path.write_text(SETTINGS)
    monkeypatch.setenv("MAILSEAL_CONFIG", str(path))
    return path


def test_test_change_test_again(running: Running, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            sign_in(page, running.url, "root", running.password)

            page.get_by_role("link", name="Policy", exact=True).click()
            expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()
            expect(page.locator("#policy-source")).to_contain_text("the settings file")

            def run_tester() -> str:
                page.get_by_label("From (envelope sender)").fill("alice@example.org")
                page.get_by_label("To (several: commas or spaces)").fill("carol@partner.example, dan@example.org")
                page.get_by_role("button", name="Test", exact=True).click()
                row = page.locator("#test-result tbody tr").first
                expect(row).to_be_visible()
                expect(page.locator("#test-result tbody tr")).to_have_count(2)
                return row.inner_text()

            first = run_tester()
            assert "carol@partner.example" in first and "✓ delivered" in first and "encrypt: no" in first
            shots += _shots(page, "policy-tested", tmp_path)

            # the settings file's entry for partner.example, changed: encrypt = "require" (its hold stays)
            page.locator("details.policy-entry summary", has_text="partner.example").click()
            page.locator("#domain1-encrypt").select_option("require")
            page.get_by_role("button", name="Save domain partner.example").click()
            expect(page.locator("#policy-saved")).to_contain_text("version 1")
            expect(page.locator("#policy-saved")).to_contain_text("systemctl reload")
            expect(page.locator("#policy-source")).to_contain_text("the store (version 1)")
            shots += _shots(page, "policy-saved", tmp_path)

            second = run_tester()
            assert "! held" in second and "domain partner.example" in second, second
            assert "encryption required but no certificate for carol@partner.example" in second
            shots += _shots(page, "policy-changed", tmp_path)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling

        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 6
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

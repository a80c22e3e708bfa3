"""The Identities page in a real browser (Debian's chromium driven by Playwright) against the real uvicorn server:
log in, import a PKCS#12 identity through the form, see it listed with its key sealed in the store, remove it;
screenshots at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailseal.store.keystore import KeyStore
from tests.support.testpki import TestPKI
from tests.web.identities_support import P12_PASSWORD, STORE_PASSPHRASE, give_passphrase
from tests.web.test_browser import Running, _shots, chromium, running, sign_in
from tests.web.test_certs_browser import _fits

__all__ = ["chromium", "running"]


def test_import_a_pkcs12_identity_and_see_it_listed(running: Running, chromium: str, pki: TestPKI, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect, sync_playwright

    give_passphrase(monkeypatch)  # the console's process has it, as `mailseal serve` does
    user = pki.user("browserid", "ec-p256")
    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            sign_in(page, running.url, "root", running.password)

            page.get_by_role("link", name="Identities", exact=True).click()
            expect(page.get_by_role("heading", name="Identities", exact=True)).to_be_visible()
            expect(page.get_by_text("No identity yet")).to_be_visible()
            expect(page.get_by_role("heading", name="Rotating a key")).to_be_visible()
            page.get_by_label("PKCS#12 file (.p12, .pfx)").set_input_files(str(user.p12_path))
            page.get_by_label("PKCS#12 password").fill(P12_PASSWORD)
            page.get_by_label("Usage").select_option("dual")
            page.get_by_role("button", name="Import").click()
            expect(page.get_by_text("✓ Imported 1 identity")).to_be_visible()
            listed = page.locator("table.identities tbody tr")
            expect(listed).to_have_count(1)
            expect(listed.first).to_contain_text(user.email)
            expect(listed.first).to_contain_text("sealed in the store")
            expect(listed.first).to_contain_text("✓ valid")
            _fits(page)
            shots += _shots(page, "identities", tmp_path)
            (record,) = KeyStore(running.store).list()
            assert record.usage == "dual" and record.address == user.email
            held = KeyStore(running.store, STORE_PASSPHRASE.encode()).get(record.id)
            assert held.certificate == user.cert

            listed.first.get_by_role("button", name="Remove").click()
            expect(page.get_by_text(f"✓ Removed identity {record.id}")).to_be_visible()
            expect(page.get_by_text("No identity yet")).to_be_visible()
        finally:
            browser.close()
    assert violations == []
    assert KeyStore(running.store).list() == []
    assert len(shots) == 2
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

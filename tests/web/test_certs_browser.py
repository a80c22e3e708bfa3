"""The Certificates, Trust and Publishing pages in a real browser (Debian's chromium driven by Playwright) against
the real uvicorn server: log in, import a certificate file through the form, see it in the list, open its detail
page and see the chain diagram; screenshots of each page at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailseal.store.trust import StoredTrust
from tests.support.testpki import TestPKI
from tests.web.certs_support import pem
from tests.web.test_browser import Running, _shots, chromium, running, sign_in

__all__ = ["chromium", "running"]


def _fits(page: object) -> None:
    """At a phone's width the page does not scroll sideways (wide tables scroll inside their box)."""
    page.set_viewport_size({"width": 390, "height": 900})  # type: ignore[attr-defined]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # type: ignore[attr-defined]
    page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]


def test_import_a_certificate_and_see_its_chain(running: Running, chromium: str, pki: TestPKI, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect, sync_playwright

    settings = tmp_path / "mailseal.toml"
    settings.write_text('[gateway]\naccepted_domains = ["example.org"]\n', encoding="utf-8")
    monkeypatch.setenv("MAILSEAL_CONFIG", str(settings))
    StoredTrust(running.store).add([pki.root_cert], actor="test")
    StoredTrust(running.store).add([pki.intermediate_cert], intermediate=True, actor="test")
    user = pki.user("browsercert")
    upload = tmp_path / "browsercert.pem"
    upload.write_bytes(pem(user.cert))
    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            sign_in(page, running.url, "root", running.password)

            page.get_by_role("link", name="Certificates", exact=True).click()
            expect(page.get_by_role("heading", name="Certificates", exact=True)).to_be_visible()
            expect(page.get_by_text("No certificate matches.")).to_be_visible()
            page.get_by_label("Certificate file (PEM, DER, P7B, SST, LDIF or PKCS#12)").set_input_files(str(upload))
            page.get_by_role("button", name="Import").click()
            expect(page.get_by_text("1 added, 0 already known, 0 skipped.")).to_be_visible()
            listed = page.locator("table.certs tbody tr")
            expect(listed).to_have_count(1)
            expect(listed.first).to_contain_text(user.email)
            assert page.locator("link[href='/static/certs.css']").count() == 1
            _fits(page)
            shots += _shots(page, "certificates", tmp_path)

            listed.first.get_by_role("link", name=user.email).click()
            expect(page.get_by_role("heading", name=f"Certificate of {user.email}")).to_be_visible()
            drawing = page.locator("svg.chain-svg")
            expect(drawing).to_be_visible()
            assert drawing.locator("g.cert").count() == 3
            expect(drawing).to_contain_text("mailseal Test Intermediate")
            expect(drawing).to_contain_text("Trust anchor")
            box = drawing.bounding_box()
            assert box is not None and box["height"] > 300
            expect(page.get_by_text("Against the console's trust list: ✓ Valid")).to_be_visible()
            _fits(page)
            shots += _shots(page, "certificate-detail", tmp_path)
            page.set_viewport_size({"width": 390, "height": 900})
            narrow = drawing.bounding_box()
            assert narrow is not None and narrow["width"] <= 390  # the drawing shrinks to the phone's width
            page.set_viewport_size({"width": 1280, "height": 900})

            page.get_by_role("link", name="Trust", exact=True).click()
            expect(page.get_by_role("heading", name="Trust", exact=True)).to_be_visible()
            expect(page.locator("table.trust tbody tr")).to_have_count(2)
            _fits(page)
            shots += _shots(page, "trust", tmp_path)

            page.get_by_role("link", name="Publishing", exact=True).click()
            expect(page.get_by_role("heading", name="Publishing", exact=True)).to_be_visible()
            expect(page.locator("table.published tbody")).to_contain_text(user.email)
            _fits(page)
            shots += _shots(page, "publishing", tmp_path)
        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 8
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

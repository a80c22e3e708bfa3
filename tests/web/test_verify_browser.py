"""The verify page in a real browser (Debian's chromium, real uvicorn): must-show 1's verify part. Upload a valid
message, a tampered one and a signed part wrapped in unsigned text through the form, see each verdict; a message
whose HTML links a remote image and carries a script loads nothing remote and runs nothing; the .p7s downloads;
an encrypted one names its recipients.
Screenshots of each result at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

from mailseal.web.service_verify import ACTION
from tests.support.testpki import TestPKI
from tests.web.test_browser import Running, _shots, chromium, running, sign_in
from tests.web.verify_support import messages, trust_test_root

__all__ = ["chromium", "running"]  # the fixtures of test_browser.py: real uvicorn, chromium or fail under CI


def test_verify_valid_tampered_wrapped_in_the_browser(running: Running, chromium: str, pki: TestPKI,
                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    trust_test_root(running.store, pki)
    built = messages(pki)
    files = {}
    for name in ("valid", "tampered", "wrapped", "encrypted", "html"):
        files[name] = tmp_path / f"{name}.eml"
        files[name].write_bytes(getattr(built, name))
    cases = (("valid", "Valid, revocation unknown"), ("tampered", "Invalid: content altered"),
             ("wrapped", "Not signed: only a part is signed"))
    shots: list[Path] = []
    violations: list[str] = []
    remote: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.on("request", lambda r: None if r.url.startswith(running.url) else remote.append(r.url))
            sign_in(page, running.url, "root", running.password)

            page.get_by_role("link", name="Verify", exact=True).click()
            expect(page.get_by_role("heading", name="Verify a message")).to_be_visible()
            shots += _shots(page, "verify-form", tmp_path)
            for name, word in cases:
                page.get_by_label("Message file (.eml)").set_input_files(str(files[name]))
                page.get_by_role("button", name="Verify").click()
                verdict = page.locator("#report-verdict")
                expect(verdict).to_have_text(word)
                if name != "valid":
                    assert "Valid" not in verdict.inner_text()
                # report.css applied (the CSP allows style-src 'self'): the verdict box has its border
                assert page.locator(".verdict").evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
                shots += _shots(page, f"verify-{name}", tmp_path)

            page.get_by_label("Message file (.eml)").set_input_files(str(files["valid"]))
            page.get_by_role("button", name="Verify").click()
            with page.expect_download() as info:
                page.get_by_role("link", name="Download the signature (.p7s)").click()
            saved = tmp_path / "downloaded.p7s"
            info.value.save_as(saved)
            assert info.value.suggested_filename == "smime.p7s" and saved.read_bytes()[:1] == b"\x30"

            page.get_by_label("Message file (.eml)").set_input_files(str(files["encrypted"]))
            page.get_by_role("button", name="Verify").click()
            expect(page.get_by_role("heading", name="Encrypted: not opened here")).to_be_visible()
            expect(page.locator("ul.recipients li")).to_have_count(1)
            shots += _shots(page, "verify-encrypted", tmp_path)

            page.get_by_label("Message file (.eml)").set_input_files(str(files["html"]))
            page.get_by_role("button", name="Verify").click()
            expect(page.locator("#report-verdict")).to_have_text("Valid, revocation unknown")
            assert page.locator("img, script, iframe").count() == 0
            assert page.get_by_text("rendered words").count() == 0 and page.title() != "pwned"
        finally:
            browser.close()
    assert violations == [] and remote == []
    assert len(shots) == 10
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot
    from mailseal.store.audit import events

    assert [e.detail["verdict"] for e in events(running.store, ACTION)] == [
        "valid", "invalid-signature", "not-signed", "valid", "encrypted", "valid"]

"""The Internal CA page in a real browser (Debian's chromium driven by Playwright) against the real uvicorn server:
log in, issue a certificate through the form (the PKCS#12 arrives as a download and opens with the typed password),
revoke it with a reason, publish a CRL that lists it; screenshots at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from mailseal.pki.authority import CertificateAuthority
from tests.web.ca_support import CA_PASSPHRASE, OCSP_URL, P12_PASSWORD
from tests.web.test_browser import Running, _shots, chromium, running, sign_in

__all__ = ["chromium", "running"]


def test_issue_and_revoke_through_the_page(running: Running, chromium: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "home"
    monkeypatch.setenv("MAILSEAL_HOME", str(home))  # the server's CA directory: $MAILSEAL_HOME/ca
    monkeypatch.delenv("MAILSEAL_CA_PASSPHRASE", raising=False)
    ca = CertificateAuthority.create("mailseal Browser CA", CA_PASSPHRASE.encode(), directory=home / "ca",
                                     key_type="p256", ocsp_url=OCSP_URL)
    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            sign_in(page, running.url, "root", running.password)

            page.get_by_role("link", name="CA", exact=True).click()
            expect(page.get_by_role("heading", name="Internal CA")).to_be_visible()
            expect(page.get_by_text("No certificate issued yet.")).to_be_visible()
            assert page.locator("link[href='/static/ca.css']").count() == 1
            page.get_by_label("Email address").fill("ivy@example.org")
            page.get_by_label("Usage").select_option("dual")
            page.get_by_label("Key type").select_option("p256")
            page.get_by_label("PKCS#12 password (at least 8 characters)").fill(P12_PASSWORD)
            page.locator("#ca-passphrase").fill(CA_PASSPHRASE)
            with page.expect_download() as info:
                page.get_by_role("button", name="Issue and download PKCS#12").click()
            saved = tmp_path / "ivy.p12"
            info.value.save_as(saved)
            _, cert, _ = pkcs12.load_key_and_certificates(saved.read_bytes(), P12_PASSWORD.encode())
            assert cert is not None
            cert.verify_directly_issued_by(ca.certificate)
            serial = format(cert.serial_number, "x")

            page.reload()
            rows = page.locator("table.ca-issued tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("ivy@example.org")
            expect(rows.first).to_contain_text("✓ valid")
            shots += _shots(page, "ca", tmp_path)

            page.get_by_label(f"Reason for revoking ivy@example.org {serial}").select_option("keyCompromise")
            page.get_by_role("button", name=f"Revoke ivy@example.org {serial}").click()
            expect(page.get_by_text("Revoked ivy@example.org's certificate (keyCompromise).")).to_be_visible()
            expect(rows.first).to_contain_text("✗ revoked")
            expect(rows.first).to_contain_text("keyCompromise")

            page.locator("#crl-passphrase").fill(CA_PASSPHRASE)
            page.get_by_role("button", name="Publish now").click()
            expect(page.get_by_text("Published CRL 1 (1 revoked")).to_be_visible()
            with page.expect_download() as crl_info:
                page.get_by_role("link", name="download (DER)").click()
            crl_path = tmp_path / "crl.der"
            crl_info.value.save_as(crl_path)
            crl = x509.load_der_x509_crl(crl_path.read_bytes())
            assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls in its box
            page.set_viewport_size({"width": 1280, "height": 900})
            shots += _shots(page, "ca-revoked", tmp_path)
        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 4
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot

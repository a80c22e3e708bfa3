"""Security keys in a real browser: Debian's chromium (Playwright) with a virtual authenticator from the Chrome
DevTools Protocol (WebAuthn domain: CTAP2, internal transport, user verification) against the real uvicorn server.
Sign in with the TOTP code, register the authenticator on /security-keys through the page's script, log out, and
sign in again with the key instead of the code; screenshots of both pages at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

from mailseal.store import events
from mailseal.store.securitykeys import SecurityKeys
from tests.web.test_browser import Running, _shots, chromium, running, sign_in

__all__ = ["chromium", "running"]

PNG = b"\x89PNG\r\n\x1a\n"


def test_register_a_key_then_sign_in_with_it(running: Running, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    # WebAuthn wants a secure context and a host name: http://localhost is one, http://127.0.0.1 has no name.
    url = running.url.replace("127.0.0.1", "localhost")
    shots: list[Path] = []
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
                "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}})
            sign_in(page, url, "root", running.password)

            page.get_by_role("link", name="Security keys", exact=True).click()
            expect(page.get_by_role("heading", name="Security keys", exact=True)).to_be_visible()
            expect(page.get_by_text("You have no security key yet")).to_be_visible()
            page.get_by_label("Name of the key").fill("laptop passkey")
            page.get_by_role("button", name="Add a security key").click()
            row = page.locator("table.security-keys tbody tr", has_text="laptop passkey")
            expect(row).to_be_visible()
            expect(row).to_contain_text("internal")
            made = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator["authenticatorId"]})
            assert len(made["credentials"]) == 1
            stored = SecurityKeys(running.store).list("root")
            assert [k.label for k in stored] == ["laptop passkey"]
            assert stored[0].credential_id == made["credentials"][0]["credentialId"].replace("+", "-").replace(
                "/", "_").rstrip("=")
            shots += _shots(page, "security-keys", tmp_path)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            page.set_viewport_size({"width": 1280, "height": 900})

            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(url + "/login")
            page.get_by_label("Account name").fill("root")
            page.get_by_label("Password").fill(running.password)
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
            shots += _shots(page, "second-factor-key", tmp_path)
            page.get_by_role("button", name="Use a security key").click()  # no code typed
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

            used = SecurityKeys(running.store).list("root")[0]
            assert used.last_used is not None
            after = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator["authenticatorId"]})
            assert used.sign_count == after["credentials"][0]["signCount"]
            logins = [e for e in events(running.store) if e.action == "console.login"]
            assert [e.detail["factor"] for e in logins] == ["totp", "security-key"]
        finally:
            browser.close()
    assert violations == []
    assert len(shots) == 4
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(PNG) and len(data) > 2000, shot

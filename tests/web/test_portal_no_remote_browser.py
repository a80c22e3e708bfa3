"""Must-show 3 of issue 16 in a real browser (Debian chromium driven by Playwright): a message with remote images,
CSS url(), a form, frames and scripts, shown by the portal (images off, then on), makes no request to a local HTTP
server that counts hits and runs no script; the only requests go to the portal itself. Screenshots at 1280 and
390 px are kept under the test's tmp_path."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mailseal.store import Store
from mailseal.web import portal_server
from mailseal.web.portal_app import create_portal_app
from mailseal.web.portal_pages import message_page, part_response
from tests.support.smtp_sink import free_port
from tests.web.portal_support import MARKER, Hits, hostile_html, hostile_message
from tests.web.test_browser import WIDTHS, chromium  # noqa: F401  (the fixture: chromium or a skip/failure)


@pytest.fixture
def hits() -> Iterator[Hits]:
    with Hits().running() as counter:
        yield counter


@pytest.fixture
def preview(tmp_path: Path, hits: Hits) -> Iterator[str]:
    """The portal app served by uvicorn, with one extra page that shows the hostile message as a reader would."""
    raw = hostile_message(hits.origin)
    router = APIRouter()

    @router.get("/preview")
    def show(request: Request, images: int = 0) -> Response:
        return message_page(request, raw, base="/preview", show_images=bool(images))

    @router.get("/preview/part/{index}")
    def attachment(request: Request, index: int) -> Response:
        return part_response(request, raw, index=index)

    @router.get("/preview/cid/{cid}")
    def inline(request: Request, cid: str) -> Response:
        return part_response(request, raw, cid=cid)

    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    port = free_port()
    served = portal_server.server(create_portal_app(store, key=secrets.token_bytes(32), routers=[router]), "127.0.0.1", port)
    sock = portal_server.bind("127.0.0.1", port)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(timeout=10)
        store.close()


def test_a_hostile_message_loads_nothing_from_elsewhere_and_runs_no_script(
        preview: str, hits: Hits, chromium: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    requested: list[str] = []
    shots: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            for query, name in (("", "images-off"), ("?images=1", "images-on")):
                page.goto(preview + "/preview" + query)
                expect(page.get_by_role("heading", name=f"{MARKER} quarterly figures")).to_be_visible()
                page.wait_for_load_state("networkidle")
                assert page.title() != "pwned"
                assert page.evaluate("() => window.pwned === undefined")
                # the inline image: only with images on, and then from the portal
                logo = page.get_by_alt_text("inline logo")
                if query:
                    expect(logo).to_have_attribute("src", "/preview/cid/logo%40example.org")
                    assert logo.evaluate("e => e.complete && e.naturalWidth") == 1
                else:
                    expect(logo).to_have_count(0)
                    expect(page.get_by_text("[image: inline logo]")).to_be_visible()
                    expect(page.get_by_role("link", name="Show the images carried in the message")).to_be_visible()
                for width in WIDTHS:
                    page.set_viewport_size({"width": width, "height": 900})
                    shot = tmp_path / f"hostile-{name}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    shots.append(shot)
                    if width == 390:  # mobile width: the page does not scroll sideways
                        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
                page.set_viewport_size({"width": 1280, "height": 900})
            # the form is gone: nothing to submit, no input with the message's value
            assert page.locator("form[action*='127.0.0.1']").count() == 0
            assert page.locator("input[name=secret]").count() == 0
            # the attachment is a download, never a page of the portal
            with page.expect_download() as download:
                page.get_by_role("link", name="evil.html").click()
            assert download.value.suggested_filename == "evil.html"
            assert page.evaluate("() => window.pwned === undefined")
        finally:
            browser.close()
    assert hits.paths == []
    others = [url for url in requested if not url.startswith(preview + "/")]
    assert others == []
    assert any(url.endswith("/preview/cid/logo%40example.org") for url in requested)
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, shot


def test_the_hit_counter_counts(hits: Hits, chromium: str) -> None:  # noqa: F811
    """The control: the same browser loading the hostile HTML from a plain file does hit the counter, so a zero
    above means the portal stopped the loads, not that the counter could not see them."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_content(hostile_html(hits.origin))
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    assert "/img-remote" in hits.paths and "/script-inline" in hits.paths

"""The portal's sanitiser and message view, one rule a test: nothing that loads or runs survives, cid: images only
when asked for and only for parts of the message, links absolute only, attachments listed with safe names."""

from __future__ import annotations

from email.message import EmailMessage

from mailseal.web.portal_sanitize import cid_of, sanitise
from mailseal.web.portal_view import part_bytes, view_message
from tests.web.portal_support import MARKER, PNG, hostile_html, hostile_message

ORIGIN = "http://127.0.0.1:9"


def test_nothing_that_loads_or_runs_survives() -> None:
    for show in (False, True):
        cleaned = sanitise(hostile_html(ORIGIN), show_images=show, part_url=lambda c: f"/m/cid/{c}",
                           known_cids=frozenset({"logo@example.org"}))
        low = cleaned.html.lower()
        for banned in ("<script", "<style", "<link", "<meta", "<base", "<form", "<input", "<iframe", "<object",
                       "<embed", "<svg", "<video", "<audio", "<source", "srcset=", "background=", "style=",
                       "onerror", "url(", "pwned"):
            assert banned not in low, (banned, show)
        # the only URL of ORIGIN left is the link, which needs a click
        assert low.count(ORIGIN) == 1 and f'href="{ORIGIN}/link-click"' in low
        assert MARKER in cleaned.html
        assert cleaned.blocked_remote >= 1


def test_cid_images_only_when_asked_and_only_known_parts() -> None:
    html = '<img src="cid:logo@x" alt="a"><img src="cid:unknown@x" alt="b"><img src="CID:%3Clogo@x%3E" alt="c">'
    off = sanitise(html, show_images=False, part_url=lambda c: f"/m/cid/{c}", known_cids=frozenset({"logo@x"}))
    assert "src=" not in off.html and off.blocked_inline == 3
    on = sanitise(html, show_images=True, part_url=lambda c: f"/m/cid/{c}", known_cids=frozenset({"logo@x"}))
    assert on.html.count('src="/m/cid/logo%40x"') == 2 and on.blocked_inline == 1
    assert cid_of("cid:%3Cpart1@x%3E") == "part1@x" and cid_of("https://x/cid:y") is None
    # what is held back shows as a placeholder with its alt text (escaped), never as an image without a source
    assert off.html.count('<span class="blocked-image">') == 3 and "<img" not in off.html
    assert '<span class="blocked-image">[image: b]</span>' in on.html
    escaped = sanitise('<img src="https://x.example/a.png" alt="<b>&quot;">').html
    assert escaped == '<span class="blocked-image">[image: &lt;b&gt;&quot;]</span>'


def test_links_keep_only_absolute_http_and_mailto() -> None:
    html = ('<a href="javascript:alert(1)">j</a><a href="/logout">rel</a><a href="//evil.example/x">pr</a>'
            '<a href="cid:x">c</a><a href="data:text/html,x">d</a><a href="https://ok.example/">ok</a>'
            '<a href="mailto:a@b.example">m</a>')
    cleaned = sanitise(html).html
    assert cleaned.count("href=") == 2
    assert 'href="https://ok.example/"' in cleaned and 'href="mailto:a@b.example"' in cleaned
    assert "noopener noreferrer" in cleaned


def test_the_view_lists_attachments_with_safe_names_and_serves_parts() -> None:
    raw = hostile_message(ORIGIN)
    view = view_message(raw)
    assert [p.filename for p in view.attachments] == ["figures.csv", "evil.html"]
    assert view.subject == "Figures" and view.signature is None
    assert view.text is not None and MARKER in view.text
    assert [p.content_id for p in view.inline] == ["logo@example.org"]
    csv = part_bytes(raw, index=view.attachments[0].index)
    assert csv is not None and csv[1] == b"col1,col2\n1,2\n"
    logo = part_bytes(raw, cid="logo@example.org")
    assert logo is not None and logo[1] == PNG and logo[0].content_type == "image/png"
    assert part_bytes(raw, index=0) is None  # the multipart container is no part to download
    assert part_bytes(raw, index=999) is None and part_bytes(raw, cid="nothing") is None


def test_an_svg_is_never_served_as_an_inline_image() -> None:
    msg = EmailMessage()
    msg["Subject"] = "svg"
    msg.set_content("x")
    msg.add_alternative('<img src="cid:s@x">', subtype="html")
    msg.get_payload()[1].add_related(b"<svg onload='alert(1)'/>", "image", "svg+xml", cid="<s@x>")
    raw = msg.as_bytes()
    view = view_message(raw, show_images=True, part_url=lambda c: f"/m/cid/{c}")
    assert view.inline == [] and view.html is not None and "src=" not in view.html
    assert part_bytes(raw, cid="s@x") is None

"""The verify page's HTML and chain SVG from real messages: escaped, well-formed, no inline style or script."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

import mailseal
from mailseal.cms.identity import fingerprint
from mailseal.web.chain_svg import chain_svg
from mailseal.web.report_render import render_report
from mailseal.web.report_view import ReportView, message_headers, report_view
from tests.attacks.support import alice, mail, set_field, sign
from tests.support.testpki import TestPKI
from tests.web import report_support as cases
from tests.web.report_support import HOSTILE_CN, RTL, Case

SVG_NS = "{http://www.w3.org/2000/svg}"
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "mailseal" / "web" / "templates" / "report"
FORBIDDEN_TAGS = {"script", "style", "foreignObject", "iframe", "object", "image", "a"}

BUILDERS: dict[str, Callable[[TestPKI], Case]] = {
    "tampered": cases.tampered,
    "expired": cases.expired,
    "untrusted": cases.untrusted,
    "mismatch": cases.mismatch,
    "wrapped": cases.wrapped,
    "gcm-signed": lambda pki: cases.encrypted(pki, "aes256-gcm", signed=True),
    "cbc": lambda pki: cases.encrypted(pki, "aes256-cbc"),
    "hostile": cases.hostile,
    "expired-ca": cases.expired_ca,
    "hard-fail": cases.hard_fail,
    "triple": cases.triple,
}


def view_of(case: Case) -> ReportView:
    return report_view(case.report, message_headers(case.message))


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed as XML (raises when one is not well-formed)."""
    found = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    return [ET.fromstring(s) for s in found]


def assert_clean_svg(root: ET.Element) -> None:
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.find(f"{SVG_NS}title") is not None and (root.find(f"{SVG_NS}title").text or "").strip()  # type: ignore[union-attr]
    for element in root.iter():
        assert element.tag.removeprefix(SVG_NS) not in FORBIDDEN_TAGS, element.tag
        for name in element.attrib:
            assert name != "style" and not name.lower().startswith("on"), (element.tag, name)
            assert "href" not in name, (element.tag, name)


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_clean_html(html: str) -> None:
    tags = Tags(html).tags
    assert tags
    for tag, attrs in tags:
        assert tag not in ("script", "style", "iframe", "object", "img", "foreignobject"), tag
        for name, _ in attrs:
            assert name != "style" and not name.startswith("on"), (tag, name)
    # Every state is written in words beside its icon: never colour alone.
    states = re.findall(r'<span class="state state-[a-z]+ ?[^"]*">(.*?)</span></span>', html)
    assert states and all(re.search(r'class="state-word">[^<\s][^<]*$', s) for s in states), states


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_page_is_clean_and_svg_well_formed(pki: TestPKI, name: str) -> None:
    view = view_of(BUILDERS[name](pki))
    html = str(render_report(view))
    assert_clean_html(html)
    drawings = svgs(html)
    assert len(drawings) == sum(len(layer.signers) for layer in view.layers)
    for root in drawings:
        assert_clean_svg(root)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), ids


def test_valid_page_says_valid_and_draws_leaf_to_anchor(tmp_path: Path) -> None:
    valid, _ = cases.ca_cases(tmp_path)
    view = view_of(valid)
    html = str(render_report(view, cert_url=lambda fp: f"/certificates/{fp}.pem", signature_url="/verify/1/sig.p7s"))
    assert_clean_html(html)
    assert '<h2 id="report-verdict"><span class="state state-good ">' in html
    assert "Mailbox-validated, strict" in html and "claimed by the signer" in html
    assert 'href="/verify/1/sig.p7s"' in html
    signer = view.layers[0].signers[0]
    assert f"/certificates/{signer.chain[-1].cert.fingerprint_sha256}.pem" in html
    (root,) = svgs(html)
    assert_clean_svg(root)
    boxes = [g for g in root.iter(f"{SVG_NS}g") if (g.get("class") or "").startswith("cert ")]
    assert [(g.get("aria-label") or "").split(":")[0] for g in boxes] == ["Signer certificate", "Trust anchor"]
    assert len([g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "chain-arrow"]) == 1


def test_wrapped_signed_part_page_never_says_valid(pki: TestPKI) -> None:
    html = str(render_report(view_of(cases.wrapped(pki))))
    verdict = html.split('<h2 id="report-verdict">', 1)[1].split("</h2>", 1)[0]
    assert "state-good" not in verdict and ">Valid" not in verdict
    assert "Not signed: only a part is signed" in verdict
    assert "Covers this part only" in html and "multipart/signed" in html


def test_signed_by_is_shown_above_from_when_they_differ(pki: TestPKI) -> None:
    html = str(render_report(view_of(cases.mismatch(pki))))
    fields = html.split('<dl class="message-fields">', 1)[1]
    assert fields.index('<dt class="signed-by">Signed by</dt>') < fields.index("<dt>From</dt>")
    assert "boss@example.org" in fields and "alice@example.org" in fields


def test_hostile_subject_is_escaped_everywhere(pki: TestPKI) -> None:
    case = cases.hostile(pki)
    view = view_of(case)
    html = str(render_report(view))
    assert_clean_html(html)
    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html
    # RFC 4514 text escapes < and > with a backslash; HTML escaping comes on top.
    assert "\\&lt;script\\&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert RTL[0] not in html and "\x07" not in html
    assert "[U+202E]" in html and "[U+0007]" in html
    signer = view.layers[0].signers[0]
    root = ET.fromstring(chain_svg(signer))
    assert_clean_svg(root)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    name_line = next(t for t in texts if "OU=" in t)
    assert name_line.endswith("\u2026") and len(name_line) <= 66
    assert name_line.startswith("OU=A&B \\<b\\>bold\\</b\\>[U+0007]")  # the literal text, read back from XML
    title = root.find(f"{SVG_NS}title")
    assert title is not None and HOSTILE_CN.replace("<", "\\<").replace(">", "\\>").replace('"', '\\"') in (title.text or "")


def test_refused_path_with_a_known_anchor_is_drawn_as_refused(pki: TestPKI) -> None:
    case = cases.expired_ca(pki)
    view = report_view(case.report, message_headers(case.message),
                       trust_sources={fingerprint(pki.root_cert): "the trust list"})
    root = ET.fromstring(chain_svg(view.layers[0].signers[0]))
    assert_clean_svg(root)
    labels = [g.get("aria-label") or "" for g in root.iter(f"{SVG_NS}g") if (g.get("class") or "").startswith("cert")]
    assert [label.split(":")[0].split(".")[0] for label in labels] == [
        "Signer certificate", "Issuer carried by the message", "Trust anchor", "Path refused by the verifier"]
    assert "Expired" in labels[1] and "Within validity" in labels[0]


def test_templates_carry_no_inline_style_or_script() -> None:
    files = sorted(TEMPLATES.glob("*.html"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\sstyle\s*=", text) and "<script" not in text and "<style" not in text, path.name
        assert "| safe" not in text and "|safe" not in text, path.name
        # No remote content: nothing is loaded from the message or from elsewhere.
        assert not re.search(r"\s(src|srcset|background)\s*=", text) and "http" not in text, path.name
    css = (TEMPLATES.parents[1] / "static" / "report.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css


def test_page_says_which_header_fields_it_shows(pki: TestPKI) -> None:
    """RFC 9788 §4: a message signed with protected header fields shows them, and says so; a changed Subject is a
    warning on the page."""
    signed = set_field(sign(mail("alice@example.org", subject="lunch"), alice(pki), protect_headers=True),
                       b"Subject", b"wire the money")
    opened = mailseal.open(signed, trust=mailseal.TrustStore.from_files([pki.root_path]))
    html = str(render_report(report_view(opened.report, message_headers(opened.message))))
    assert '<dd class="header-fields">protected inside the signature (hp=clear)</dd>' in html
    fields = html.split('<dl class="message-fields">', 1)[1].split("</dl>", 1)[0]
    assert "lunch" in fields and "wire the money" not in fields
    assert "outer Subject (wire the money)" in html
    plain = str(render_report(view_of(cases.tampered(pki))))
    assert "header-fields" in plain and ("the message&#39;s own" in plain or "the message's own" in plain)

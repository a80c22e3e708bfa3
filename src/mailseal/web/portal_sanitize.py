"""The portal's HTML sanitiser: a message's HTML body through nh3 (the Ammonia allow-list) so that nothing in it can
load from elsewhere or run (the EFAIL exfiltration channels: remote images, CSS ``url()``, forms, scripts, frames).

What stays is text structure: paragraphs, lists, tables, emphasis, links (which need a click and carry no referrer).
No ``style`` attribute and no ``<style>`` element survive, so no CSS ``url()`` can; an image keeps its ``src`` only
when the reader asked to show images *and* the source is a part of the message itself (``cid:``), rewritten to the
portal's own URL for that part. A remote image never keeps its source, whatever the reader asked. The page's
Content-Security-Policy (``portal_app.PORTAL_CSP``) forbids the same loads again, should this ever let one through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import nh3

TAGS = frozenset({
    "a", "abbr", "address", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt",
    "u", "ul", "var", "wbr",
})
#: Removed with everything inside them (the others are unwrapped: their text stays).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "title", "head", "template", "noscript", "textarea", "select",
                                  "iframe", "object", "embed", "svg", "math", "button"})
ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "type"},
    "time": {"datetime"},
    "abbr": {"title"},
}
#: Schemes a link may have (a click, never a load). An image's source is judged by ``_filter``, not by this list.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})


@dataclass
class Sanitised:
    """The cleaned HTML, and how many images were held back (remote ones, and cid: ones while images are off)."""

    html: str
    blocked_remote: int = 0
    blocked_inline: int = 0
    shown_inline: list[str] = field(default_factory=list)


def cid_of(source: str) -> str | None:
    """The Content-ID named by a ``cid:`` URL (RFC 2392), without angle brackets; None for any other URL."""
    if source[:4].lower() != "cid:":
        return None
    found = unquote(source[4:]).strip().strip("<>")
    return found or None


def sanitise(html: str, *, show_images: bool = False, part_url: Callable[[str], str] | None = None,
             known_cids: frozenset[str] = frozenset()) -> Sanitised:
    """``html`` cleaned for the portal. With ``show_images`` an ``<img src="cid:X">`` whose X is one of
    ``known_cids`` gets ``part_url(X)`` as its source; every other image source is removed."""
    result = Sanitised("")

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            cid = cid_of(value.strip())
            if cid is None:
                result.blocked_remote += 1
                return None
            if not show_images or part_url is None or cid not in known_cids:
                result.blocked_inline += 1
                return None
            result.shown_inline.append(cid)
            return part_url(quote(cid, safe=""))
        if tag == "a" and attribute == "href":
            scheme, colon, _ = value.strip().partition(":")
            # Only absolute links: a relative one would point into the portal itself.
            return value if colon and scheme.lower() in LINK_SCHEMES else None
        if attribute in ("width", "height") and not value.strip().isdigit():
            return None
        return value

    result.html = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=keep,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=set(LINK_SCHEMES) | {"cid"},  # cid: reaches the filter, which rewrites or drops it
        # The filter above already refused every relative URL of the message: the only ones left are the portal's
        # own part URLs it wrote.
        url_relative="pass_through",
    )
    # An image left without a source is replaced by a visible placeholder naming it (its alt text, which nh3 has
    # escaped already): the reader sees that something was held back, and no broken-image box.
    result.html = _SOURCELESS_IMG.sub(_placeholder, result.html)
    return result


_SOURCELESS_IMG = re.compile(r"<img(?![^>]*\ssrc=)([^>]*)>")
_ALT = re.compile(r'\salt="([^"]*)"')


def _placeholder(found: re.Match[str]) -> str:
    alt = _ALT.search(found.group(1))
    label = f"image: {alt.group(1)}" if alt and alt.group(1).strip() else "image"
    return f'<span class="blocked-image">[{label}]</span>'


__all__ = ["ATTRIBUTES", "LINK_SCHEMES", "TAGS", "Sanitised", "cid_of", "sanitise"]

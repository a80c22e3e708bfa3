"""Bar charts as server-rendered SVG (no script): one bar per kind, its number written beside it, so that the
chart reads without colour and without the picture (the numbers are also in a table on the page)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 130
BAR_WIDTH = 220
NUMBER_WIDTH = 60


def bar_chart(title: str, counts: Mapping[str, int]) -> Markup:
    """A horizontal bar chart of ``counts`` (in their order), scaled to the largest."""
    top = max(counts.values(), default=0) or 1
    width = LABEL_WIDTH + BAR_WIDTH + NUMBER_WIDTH
    height = len(counts) * (BAR_HEIGHT + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for row, (label, value) in enumerate(counts.items()):
        y = GAP + row * (BAR_HEIGHT + GAP)
        length = round(BAR_WIDTH * value / top)
        text_y = y + BAR_HEIGHT - 5
        parts.append(f'<text class="label" x="{LABEL_WIDTH - 6}" y="{text_y}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="bar bar-{row % 3}" x="{LABEL_WIDTH}" y="{y}" width="{max(length, 1)}" '
                     f'height="{BAR_HEIGHT}"/>'
                     f'<text class="value" x="{LABEL_WIDTH + length + 6}" y="{text_y}">{value}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["bar_chart"]

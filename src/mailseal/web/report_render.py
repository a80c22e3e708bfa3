"""The verify page's report as HTML: the Jinja2 partials of ``templates/report`` over a ReportView.

Autoescaped; the chain drawing is the one piece of markup passed through, and ``chain_svg`` escapes every text it
draws itself. Text from the message and its certificates also goes through the ``v`` filter, which shows control
and bidirectional formatting characters as ``[U+XXXX]`` before escaping.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .chain_svg import chain_svg, visible
from .report_view import CLAIMED, ReportView, SignerView


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mailseal.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["v"] = lambda value: visible(str(value))
    return env


def _svg(signer: SignerView, depth: int) -> Markup:
    # An id per layer and signer: a triple-wrapped message has a signer 1 in two layers.
    return Markup(chain_svg(signer, svg_id=f"chain-{depth}-{signer.index}"))  # chain_svg escapes all it draws


def render_report(view: ReportView, *, cert_url: Callable[[str], str] | None = None,
                  signature_url: str | None = None) -> Markup:
    """The report section's HTML. ``cert_url`` maps a certificate's SHA-256 fingerprint to the console's download
    link for it (without one, each certificate's PEM is shown in a collapsed block); ``signature_url`` is the
    console's download link for the signature (.p7s) of the layer that counts for the message."""
    template = environment().get_template("report/report.html")
    return Markup(template.render(view=view, chain_svg=_svg, claimed=CLAIMED, cert_url=cert_url,
                                  signature_url=signature_url))


__all__ = ["environment", "render_report"]

"""The recipient portal's pages (docs/portal.md): the message as the reader sees it, rendered from its bytes by
``portal_view`` under the portal's CSP; the link, passcode and reply pages build on ``message_page``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from .portal_context import Portal, portal
from .portal_csrf import csrf_token
from .portal_view import MessageView, part_bytes, signature_of, view_message

router = APIRouter(include_in_schema=False)


def brand_context(app: Portal, domain: str | None) -> dict[str, Any]:
    """The brand's words and logo for a page (the defaults when the domain has no brand)."""
    return {"brand_name": domain or "mailseal", "brand_logo": None, "portal_text": None, "disclaimer": None,
            "privacy_url": None, "brand_class": None}


def portal_sender(app: Portal, domain: str) -> str:
    """The From address of the portal's own mail (passcodes) for a brand's domain."""
    return f"portal@{domain}"


def page(request: Request, template: str, http_status: int = 200, *, domain: str | None = None,
         reader: str | None = None, **context: Any) -> Response:
    app = portal(request)
    base = {**brand_context(app, domain), "csrf": csrf_token(request), "reader": reader}
    return app.templates.TemplateResponse(request, f"portal/{template}", {**base, **context}, status_code=http_status)


def render_view(raw: bytes, app: Portal, *, show_images: bool, part_base: str) -> MessageView:
    """The view of a stored message: its signature judged with the store's trust list now, cid: images named
    by the portal's part URLs under ``part_base``."""
    return view_message(raw, show_images=show_images, part_url=lambda cid: f"{part_base}/cid/{cid}",
                        anchors=app.trust(), at=app.now())


def message_page(request: Request, raw: bytes, *, base: str, show_images: bool = False,
                 domain: str | None = None, reader: str | None = None, template: str = "message.html",
                 **context: Any) -> Response:
    """The message page for ``raw`` whose URL is ``base`` (its parts at ``base/part/N`` and ``base/cid/X``; images
    shown with ``base?images=1``)."""
    view = render_view(raw, portal(request), show_images=show_images, part_base=base)
    return page(request, template, domain=domain, reader=reader, view=view, part_base=f"{base}/part",
                images_url=f"{base}?images=1", hide_url=base, images_shown=show_images, **context)


def part_response(request: Request, raw: bytes, *, index: int | None = None, cid: str | None = None) -> Response:
    """A part of the message: an attachment always as a download (``Content-Disposition: attachment``, sent as
    application/octet-stream, sniffing off), an inline image of the message as itself; 404 when there is none."""
    app = portal(request)
    _, content = signature_of(raw, app.trust(), app.now())
    found = part_bytes(content, index=index, cid=cid)
    if found is None:
        return page(request, "error.html", 404, status=404, title="Not found", detail="There is no such part.")
    part, data = found
    if cid is not None:
        return Response(data, media_type=part.content_type, headers={"Content-Disposition": "inline"})
    name = quote(part.filename, safe="")
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename=\"part-{part.index}\"; "
                                                    f"filename*=UTF-8''{name}"})


__all__ = ["brand_context", "message_page", "page", "part_response", "portal_sender", "render_view", "router"]

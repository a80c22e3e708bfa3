"""The recipient portal's pages (docs/portal.md): the message as the reader sees it, rendered from its bytes by
``portal_view`` under the portal's CSP; the link, passcode and reply pages build on ``message_page``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ..policy.portal_settings import Brand
from .portal_context import Portal, portal
from .portal_csrf import csrf_token
from .portal_view import MessageView, part_bytes, signature_of, view_message

router = APIRouter(include_in_schema=False)


def brand_context(app: Portal, domain: str | None) -> dict[str, Any]:
    """The brand's words, colour and logo for a page (``[portal.brands."DOMAIN"]``; the default brand when the
    domain has none). The colour comes in a style sheet of the portal's own (``/brand/DOMAIN.css``) and the logo
    from ``/brand/DOMAIN/logo``: the CSP allows no inline style and no image from elsewhere."""
    brand = app.current().brand_for(domain or "")
    key = brand.domain or "default"
    return {"brand_name": domain or "mailseal", "brand_css": f"/brand/{key}.css",
            "brand_logo": f"/brand/{key}/logo" if brand.logo is not None else None,
            "portal_text": brand.portal_text, "disclaimer": brand.disclaimer or None,
            "privacy_url": brand.privacy_statement_url, "read_button": brand.read_button_text,
            "brand_class": None}


def _brand(app: Portal, key: str) -> Brand:
    return app.current().brands.get(key) or Brand()


@router.get("/brand/{key}.css")
def brand_css(key: str, app: Portal = Depends(portal)) -> Response:
    colour = _brand(app, key).background_colour  # checked as #rgb or #rrggbb by the settings
    return Response(f"body {{ background: {colour}; }}\n", media_type="text/css",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/brand/{key}/logo")
def brand_logo(request: Request, key: str, app: Portal = Depends(portal)) -> Response:
    brand = _brand(app, key)
    if brand.logo is None or brand.logo_type is None:
        return page(request, "error.html", 404, status=404, title="Not found", detail="This brand has no logo.")
    return Response(brand.logo.read_bytes(), media_type=brand.logo_type, headers={"Cache-Control": "max-age=3600"})


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
    view = context.pop("view", None) or render_view(raw, portal(request), show_images=show_images, part_base=base)
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


__all__ = ["brand_context", "message_page", "page", "part_response", "render_view", "router"]

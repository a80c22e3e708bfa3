"""The console's Publishing page: what `mailseal certs publish` publishes where (SMIMEA per domain, LDIF, PEM,
P7B), what is left out and why, and the files to download. The same service functions as api_publishing.py
(service_publishing.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from . import service_publishing
from .chain_svg import visible
from .context import Console, console
from .pages import render
from .sessions import Principal, user

router = APIRouter(include_in_schema=False)


@router.get("/publishing")
def publishing_page(request: Request, base_dn: str | None = Query(None, max_length=1024),
                    who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    page = service_publishing.summary(app.store, app.now(), ca_directory=app.ca_directory, base_dn=base_dn)
    return render(request, "publishing/page.html", who, visible=visible, page=page, view=page.summary.to_dict(), base_dn=base_dn or "")


@router.get("/publishing/download/{fmt}")
def publishing_download(fmt: Literal["smimea", "ldif", "pem", "p7b"], domain: str | None = Query(None, max_length=253),
                        base_dn: str | None = Query(None, max_length=1024), who: Principal = Depends(user),
                        app: Console = Depends(console)) -> Response:
    data, media, name = service_publishing.download(app.store, app.now(), fmt, ca_directory=app.ca_directory,
                                                    domain=domain, base_dn=base_dn)
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["router"]

"""The console's Certificates pages (the directory of correspondents' certificates): search, import by upload with a
result per entry, one certificate with its chain drawn, export, remove. The same service functions as
api_certs.py (service_certs.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import MailsealError
from . import service_certs
from .chain_svg import chain_svg, visible
from .context import Console, console, revocation_fetch
from .pages import render
from .sessions import MAX_OFFSET, Principal, admin, user
from .uploads import MAX_UPLOAD

router = APIRouter(include_in_schema=False)
#: The uploaded certificate file of a form or an API call (multipart ``file``).
UPLOAD = File(description="the certificate file")


async def read_file(upload: UploadFile) -> bytes:
    """The uploaded file's bytes, at most MAX_UPLOAD + 1 (so that a larger one is refused, not read whole)."""
    return await upload.read(MAX_UPLOAD + 1)


def _list(request: Request, who: Principal, app: Console, *, address: str | None, fingerprint: str | None,
          issuer: str | None, limit: int, offset: int, imported: service_certs.ImportReport | None = None,
          removed: str | None = None, error: str | None = None) -> Response:
    page = service_certs.search(app.store, app.now(), address=address, fingerprint_prefix=fingerprint,
                                issuer=issuer, limit=limit, offset=offset)
    filters = {"address": address or "", "fingerprint": fingerprint or "", "issuer": issuer or ""}
    return render(request, "certs/list.html", who, visible=visible, page=page, filters=filters, imported=imported, removed=removed,
                  error=error)


@router.get("/certificates")
def certificates_page(request: Request, address: str | None = None, fingerprint: str | None = None,
                      issuer: str | None = None, removed: str | None = None,
                      limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                      who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return _list(request, who, app, address=address, fingerprint=fingerprint, issuer=issuer, limit=limit,
                 offset=offset, removed=removed)


@router.post("/certificates/import")
async def certificates_import(request: Request, file: UploadFile = UPLOAD,
                              password: str = Form("", max_length=1024), who: Principal = Depends(admin),
                              app: Console = Depends(console)) -> Response:
    from starlette.concurrency import run_in_threadpool

    data = await read_file(file)
    try:
        report = await run_in_threadpool(service_certs.import_certificates, app.store, data,
                                         file.filename or "upload", password=password or None, actor=who.actor)
    except MailsealError as exc:  # a PKCS#12 password needed or wrong: the form says so, beside itself
        answer = await run_in_threadpool(_list, request, who, app, address=None, fingerprint=None, issuer=None,
                                         limit=50, offset=0, error=exc.message)
        answer.status_code = 400
        return answer
    return await run_in_threadpool(_list, request, who, app, address=None, fingerprint=None, issuer=None, limit=50,
                                   offset=0, imported=report)


@router.get("/certificates/{fingerprint}")
def certificate_page(request: Request, fingerprint: str, who: Principal = Depends(user),
                     app: Console = Depends(console)) -> Response:
    found = service_certs.detail(app.store, fingerprint, app.now(), ca_directory=app.ca_directory)
    drawing = Markup(chain_svg(found.signer_view(), svg_id="chain-certificate"))  # chain_svg escapes all it draws
    return render(request, "certs/detail.html", who, visible=visible, cert=found, drawing=drawing)


@router.post("/certificates/{fingerprint}/revocation")
def certificate_revocation(request: Request, fingerprint: str, who: Principal = Depends(user),
                           app: Console = Depends(console)) -> Response:
    """Check revocation now: a POST (it makes outbound requests, audited), answered with the detail page."""
    found = service_certs.check_revocation(app.store, fingerprint, app.now(), revocation_fetch(app),
                                           actor=who.actor, ca_directory=app.ca_directory)
    drawing = Markup(chain_svg(found.signer_view(), svg_id="chain-certificate"))
    return render(request, "certs/detail.html", who, visible=visible, cert=found, drawing=drawing, checked=True)


@router.get("/certificates/{fingerprint}/export")
def certificate_export(fingerprint: str, format: Literal["pem", "der"] = "pem", who: Principal = Depends(user),
                       app: Console = Depends(console)) -> Response:
    data, media, name = service_certs.export(app.store, fingerprint, format)
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/certificates/{fingerprint}/remove")
def certificate_remove(fingerprint: str, who: Principal = Depends(admin),
                       app: Console = Depends(console)) -> Response:
    full, _ = service_certs.remove(app.store, fingerprint, actor=who.actor)
    return RedirectResponse(f"/certificates?removed={full}", status_code=303)


__all__ = ["UPLOAD", "read_file", "router"]

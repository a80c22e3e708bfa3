"""The console's Trust page: anchors and intermediates, one list (``store.trust.StoredTrust``); add by upload and
remove (admin, after giving the password again), export as PEM or SST. The same service functions as
api_trust.py (service_trust.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Form, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import MailsealError
from . import service_trust
from .chain_svg import visible
from .context import REAUTH_SECONDS, Console, console
from .pages import render
from .pages_certs import UPLOAD, read_file
from .sessions import Principal, recently_authenticated, user

router = APIRouter(include_in_schema=False)


def _page(request: Request, who: Principal, app: Console, *, result: object = None, removed: object = None,
          error: str | None = None, status: int = 200) -> Response:
    rows = service_trust.listing(app.store, app.now())
    fresh = who.session is not None and who.session.reauth is not None and \
        app.now() - who.session.reauth <= timedelta(seconds=REAUTH_SECONDS)
    return render(request, "trust/list.html", who, status, visible=visible, rows=rows, result=result, removed=removed, error=error,
                  fresh=fresh)


@router.get("/trust")
def trust_page(request: Request, who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return _page(request, who, app)


@router.post("/trust/add")
async def trust_add(request: Request, file: UploadFile = UPLOAD, kind: str = Form("anchor", max_length=16),
                    allow_leaf: bool = Form(False), password: str = Form("", max_length=1024),
                    who: Principal = Depends(recently_authenticated), app: Console = Depends(console)) -> Response:
    data = await read_file(file)
    try:
        result = await run_in_threadpool(service_trust.add, app.store, data, intermediate=kind == "intermediate",
                                         allow_leaf=allow_leaf, password=password or None, actor=who.actor)
    except MailsealError as exc:  # not a CA, unreadable, a password needed: said beside the form, nothing added
        message = exc.message
        return await run_in_threadpool(lambda: _page(request, who, app, error=message, status=400))
    return await run_in_threadpool(lambda: _page(request, who, app, result=result))


@router.post("/trust/{fingerprint}/remove")
def trust_remove(request: Request, fingerprint: str, who: Principal = Depends(recently_authenticated),
                 app: Console = Depends(console)) -> Response:
    removed = service_trust.remove(app.store, fingerprint, actor=who.actor)
    return _page(request, who, app, removed=removed)


@router.get("/trust/export")
def trust_export(format: Literal["pem", "sst"] = "pem", anchors_only: bool = False, who: Principal = Depends(user),
                 app: Console = Depends(console)) -> Response:
    data, media, name = service_trust.export(app.store, format, anchors_only=anchors_only)
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["router"]

"""The console's Identities page: the keys it holds (metadata only), import of a PKCS#12 upload and removal (admin,
after giving the password again), and how rotation works. The same service functions as api_identities.py
(service_identities.py)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import MailsealError
from ..store.keystore import USAGES
from . import service_identities
from .context import REAUTH_SECONDS, Console, console
from .pages import render
from .pages_certs import read_file
from .sessions import MAX_ID, MAX_OFFSET, Principal, recently_authenticated, user

router = APIRouter(include_in_schema=False)
PKCS12 = File(description="the PKCS#12 file")


def _page(request: Request, who: Principal, app: Console, *, limit: int = 50, offset: int = 0,
          imported: list[service_identities.IdentityRow] | None = None,
          removed: service_identities.IdentityRow | None = None, error: str | None = None,
          status: int = 200) -> Response:
    page = service_identities.listing(app.store, app.now(), limit=limit, offset=offset)
    fresh = who.session is not None and who.session.reauth is not None and \
        app.now() - who.session.reauth <= timedelta(seconds=REAUTH_SECONDS)
    return render(request, "identities/list.html", who, status, page=page, imported=imported, removed=removed,
                  error=error, fresh=fresh, usages=USAGES, source=service_identities.passphrase_configured(),
                  passphrase_help=service_identities.PASSPHRASE_HELP)


@router.get("/identities")
def identities_page(request: Request, limit: int = Query(50, ge=1, le=500),
                    offset: int = Query(0, ge=0, le=MAX_OFFSET), who: Principal = Depends(user),
                    app: Console = Depends(console)) -> Response:
    return _page(request, who, app, limit=limit, offset=offset)


@router.post("/identities/import")
async def identities_import(request: Request, file: UploadFile = PKCS12, password: str = Form("", max_length=1024),
                            usage: str = Form("auto", max_length=16),
                            who: Principal = Depends(recently_authenticated),
                            app: Console = Depends(console)) -> Response:
    data = await read_file(file)
    try:
        rows = await run_in_threadpool(service_identities.import_pkcs12, app.store, data, app.now(),
                                       password=password or None, usage=None if usage == "auto" else usage,
                                       actor=who.actor)
    except MailsealError as exc:  # a wrong password, no store passphrase, a usage the certificate refuses: beside the form
        message = exc.message
        return await run_in_threadpool(lambda: _page(request, who, app, error=message, status=400))
    return await run_in_threadpool(lambda: _page(request, who, app, imported=rows))


@router.post("/identities/{identity_id}/remove")
def identities_remove(request: Request, identity_id: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(recently_authenticated),
                      app: Console = Depends(console)) -> Response:
    removed = service_identities.remove(app.store, identity_id, app.now(), actor=who.actor)
    return _page(request, who, app, removed=removed)


__all__ = ["router"]

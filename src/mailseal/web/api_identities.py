"""The identities the console holds under /api/v1/identities (docs/web.md): the list (paged, metadata only, never
key material), import of a PKCS#12 upload and removal (admin, re-authenticated: a session must have given its
password in the last minutes, a token stands for itself). The same service functions as the page
(service_identities.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from . import service_identities
from .api import Page
from .context import Console, console
from .pages_certs import read_file
from .sessions import API_PREFIX, MAX_ID, MAX_OFFSET, Principal, recently_authenticated, user

router = APIRouter(prefix=API_PREFIX)
PKCS12 = File(description="the PKCS#12 (.p12/.pfx) file: private key, certificate and chain")


class IdentityOut(BaseModel):
    id: int
    address: str
    usage: Literal["sign", "encrypt", "dual"]
    fingerprint_sha256: str
    subject: str
    not_before: str
    not_after: str
    created: str
    chain_length: int
    key_location: str = Field(description='"store" (sealed under the store\'s key-encryption key) or the PKCS#11 '
                                          "URI of the key on its token (never with a PIN)")
    key_location_text: str = Field(description="where the key is, in words")
    validity: Literal["valid", "expired", "not-yet-valid"]


class IdentityPageOut(Page):
    items: list[IdentityOut]
    total: int


class Imported(BaseModel):
    imported: list[IdentityOut]


class Removed(BaseModel):
    removed: IdentityOut


@router.get("/identities", response_model=IdentityPageOut,
            summary="The identities (keys) the console holds: metadata only, never key material")
def get_identities(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                   who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_identities.listing(app.store, app.now(), limit=limit, offset=offset).to_dict()


@router.post("/identities", response_model=Imported, status_code=201,
             summary="Import a PKCS#12 identity: its key is sealed under the store's key-encryption key")
async def post_identity(file: UploadFile = PKCS12, password: str = Form("", max_length=1024),
                        usage: Literal["auto", "sign", "encrypt", "dual"] = Form("auto"),
                        who: Principal = Depends(recently_authenticated),
                        app: Console = Depends(console)) -> dict[str, Any]:
    data = await read_file(file)
    rows = await run_in_threadpool(service_identities.import_pkcs12, app.store, data, app.now(),
                                   password=password or None, usage=None if usage == "auto" else usage,
                                   actor=who.actor)
    return {"imported": [r.to_dict() for r in rows]}


@router.delete("/identities/{identity_id}", response_model=Removed, summary="Remove one identity and its key")
def delete_identity(identity_id: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(recently_authenticated),
                    app: Console = Depends(console)) -> dict[str, Any]:
    return {"removed": service_identities.remove(app.store, identity_id, app.now(), actor=who.actor).to_dict()}


__all__ = ["router"]

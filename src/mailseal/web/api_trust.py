"""The trust list under /api/v1/trust (docs/web.md): anchors and intermediates, one list; add by upload and remove
(admin, re-authenticated: a session must have given its password in the last minutes, a token stands for itself),
export as PEM or SST. The same service functions as the page (service_trust.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..errors import CertificateError, UsageError
from . import service_trust
from .api_certs import FINGERPRINT
from .context import Console, console
from .pages_certs import UPLOAD, read_file
from .sessions import API_PREFIX, Principal, recently_authenticated, user

router = APIRouter(prefix=API_PREFIX)


class TrustCertificate(BaseModel):
    subject: str
    issuer: str
    serial: str
    fingerprint_sha256: str
    not_before: str
    not_after: str
    is_ca: bool
    kind: Literal["anchor", "intermediate"]


class Listed(TrustCertificate):
    validity: Literal["valid", "expired", "not-yet-valid"]


class TrustList(BaseModel):
    items: list[Listed]


class Added(BaseModel):
    added: list[TrustCertificate]
    moved: list[TrustCertificate]
    unchanged: list[TrustCertificate]
    refused: str | None = Field(None, description="why nothing was added (the file cannot be read, or holds a "
                                                  "certificate that is not a CA): the change is all or nothing")
    code: str | None = Field(None, description="the error code of the refusal (docs/cli.md)")


class RemovedTrust(BaseModel):
    items: list[TrustCertificate]


@router.get("/trust", response_model=TrustList, summary="The trust list: anchors, then intermediates")
def get_trust(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return {"items": [r.to_dict() for r in service_trust.listing(app.store, app.now())]}


@router.post("/trust", response_model=Added, summary="Add the certificates of an uploaded file (all or nothing)")
async def post_trust(file: UploadFile = UPLOAD, kind: Literal["anchor", "intermediate"] = Form("anchor"),
                     allow_leaf: bool = Form(False), password: str = Form("", max_length=1024),
                     who: Principal = Depends(recently_authenticated),
                     app: Console = Depends(console)) -> dict[str, Any]:
    data = await read_file(file)
    try:
        result = await run_in_threadpool(service_trust.add, app.store, data, intermediate=kind == "intermediate",
                                         allow_leaf=allow_leaf, password=password or None, actor=who.actor)
    except (CertificateError, UsageError) as exc:  # what was sent is refused, as the import answers per entry
        return {"added": [], "moved": [], "unchanged": [], "refused": exc.message, "code": str(exc.code)}
    return service_trust.result_dict(result)


@router.delete("/trust/{fingerprint}", response_model=RemovedTrust, summary="Remove one certificate from the list")
def delete_trust(fingerprint: str = FINGERPRINT, who: Principal = Depends(recently_authenticated),
                 app: Console = Depends(console)) -> dict[str, Any]:
    return {"items": [e.to_dict() for e in service_trust.remove(app.store, fingerprint, actor=who.actor)]}


@router.get("/trust/export", response_class=Response, summary="The trust list as a PEM bundle or an SST file",
            responses={200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}},
                                         "application/vnd.ms-pki.certstore": {"schema": {"type": "string",
                                                                                         "format": "binary"}}}}})
def get_trust_export(format: Literal["pem", "sst"] = "pem", anchors_only: bool = False,
                     who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    data, media, name = service_trust.export(app.store, format, anchors_only=anchors_only)
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["router"]

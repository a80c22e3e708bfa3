"""The certificate directory under /api/v1/certificates (docs/web.md): search with ``limit``/``offset``, import by
upload (multipart ``file``, ``password`` for PKCS#12) with a result per entry, one certificate with its chain as
data, export (PEM or DER), remove. The same service functions as the pages (service_certs.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from . import service_certs
from .api import Page
from .context import Console, console, revocation_fetch
from .pages_certs import UPLOAD, read_file
from .sessions import API_PREFIX, MAX_OFFSET, Principal, admin, user

router = APIRouter(prefix=API_PREFIX)
#: A certificate named in a path: its SHA-256 fingerprint in hex, or a unique prefix of 8 digits or more.
FINGERPRINT = Path(pattern="^[0-9a-fA-F]{8,64}$", description="SHA-256 fingerprint (hex), or a unique prefix of 8+")


class Certificate(BaseModel):
    fingerprint_sha256: str
    subject: str
    issuer: str
    addresses: list[str]
    sources: list[str] = Field(description="imported | harvested | ldap | smimea | ca")
    not_before: str
    not_after: str
    validity: Literal["valid", "expired", "not-yet-valid"]


class CertificatePage(Page):
    total: int
    items: list[Certificate]


class ImportedEntry(BaseModel):
    status: Literal["added", "known", "skipped"]
    fingerprint_sha256: str | None
    subject: str | None
    addresses: list[str]
    reason: str | None


class ImportResult(BaseModel):
    file: str
    added: int
    already_known: int
    skipped: int
    entries: list[ImportedEntry]


class Capability(BaseModel):
    oid: str
    name: str | None


class Filed(BaseModel):
    address: str
    source: str
    source_words: str
    first_seen: str
    last_seen: str
    capabilities: list[Capability] | None = Field(description="SMIMECapabilities learned, in advertised order")
    capabilities_time: str | None


class ProfileCheck(BaseModel):
    address: str | None
    can_sign: bool
    can_encrypt: bool
    addresses: list[str]
    address_matches: bool | None
    reasons_sign: list[str]
    reasons_encrypt: list[str]
    sign_words: str
    encrypt_words: str


class ChainCertificate(BaseModel):
    role: str
    subject: str
    issuer: str
    serial: str
    fingerprint_sha256: str
    not_before: str
    not_after: str
    validity: str
    revocation: str
    trust: str


class Chain(BaseModel):
    complete: bool = Field(description="whether the chain ends at an anchor of the trust list")
    note: str
    certificates: list[ChainCertificate] = Field(description="leaf first")


class Revocation(BaseModel):
    state: str
    note: str


class CertificateDetail(BaseModel):
    fingerprint_sha256: str
    subject: str
    issuer: str
    serial: str
    emails: list[str]
    not_before: str
    not_after: str
    validity: str
    key: str
    key_usage: list[str] | None
    extended_key_usage: list[str] | None
    validation_type: str | None
    policies: list[str]
    crl_urls: list[str]
    ocsp_urls: list[str]
    filed: list[Filed]
    profile: list[ProfileCheck]
    status: str
    reasons: list[str]
    revocation: Revocation
    chain: Chain


class Removed(BaseModel):
    fingerprint_sha256: str
    addresses: int


@router.get("/certificates", response_model=CertificatePage, summary="Search the certificate directory")
def get_certificates(address: str | None = Query(None, max_length=320, description="part of an address"),
                     fingerprint: str | None = Query(None, max_length=95, description="start of the SHA-256"),
                     issuer: str | None = Query(None, max_length=1024, description="part of the issuer's name"),
                     limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                     who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_certs.search(app.store, app.now(), address=address, fingerprint_prefix=fingerprint,
                                issuer=issuer, limit=limit, offset=offset).to_dict()


@router.post("/certificates", response_model=ImportResult, summary="Import certificates from an uploaded file "
             "(PEM, DER, P7B, SST, LDIF, PKCS#12)")
async def post_certificates(file: UploadFile = UPLOAD, password: str = Form("", max_length=1024),
                            who: Principal = Depends(admin), app: Console = Depends(console)) -> dict[str, Any]:
    data = await read_file(file)
    report = await run_in_threadpool(service_certs.import_certificates, app.store, data, file.filename or "upload",
                                     password=password or None, actor=who.actor)
    return report.to_dict()


@router.get("/certificates/{fingerprint}", response_model=CertificateDetail,
            summary="One certificate: facts, where it is filed, the profile check, its chain")
def get_certificate(fingerprint: str = FINGERPRINT, who: Principal = Depends(user),
                    app: Console = Depends(console)) -> dict[str, Any]:
    return service_certs.detail(app.store, fingerprint, app.now(), ca_directory=app.ca_directory).to_dict()


@router.post("/certificates/{fingerprint}/revocation", response_model=CertificateDetail,
             summary="Check revocation now: the certificate's CRL and OCSP sources asked, the detail returned")
def post_certificate_revocation(fingerprint: str = FINGERPRINT, who: Principal = Depends(user),
                                app: Console = Depends(console)) -> dict[str, Any]:
    return service_certs.check_revocation(app.store, fingerprint, app.now(), revocation_fetch(app),
                                          actor=who.actor, ca_directory=app.ca_directory).to_dict()


@router.get("/certificates/{fingerprint}/export", response_class=Response, summary="The certificate, PEM or DER",
            responses={200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}},
                                         "application/pkix-cert": {"schema": {"type": "string",
                                                                              "format": "binary"}}}}})
def get_certificate_export(fingerprint: str = FINGERPRINT, format: Literal["pem", "der"] = "pem",
                           who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    data, media, name = service_certs.export(app.store, fingerprint, format)
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.delete("/certificates/{fingerprint}", response_model=Removed,
               summary="Remove a certificate from the directory (under every address)")
def delete_certificate(fingerprint: str = FINGERPRINT, who: Principal = Depends(admin),
                       app: Console = Depends(console)) -> dict[str, Any]:
    full, count = service_certs.remove(app.store, fingerprint, actor=who.actor)
    return {"fingerprint_sha256": full, "addresses": count}


__all__ = ["router"]

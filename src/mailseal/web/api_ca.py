"""The internal CA under /api/v1/ca (docs/web.md): the CA and its register (paged), issue (admin, re-authenticated;
the new key comes back once, in a base64 PKCS#12 under the password sent), revoke with a reason (admin,
re-authenticated), publish a CRL (admin) and fetch the last one (DER). The same service functions as the page
(service_ca.py)."""

from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from . import service_ca
from .context import Console, console
from .sessions import API_PREFIX, MAX_OFFSET, Principal, admin, recently_authenticated, user

router = APIRouter(prefix=API_PREFIX)
Usage = Literal["sign", "encrypt", "dual"]
KeyType = Literal["rsa2048", "rsa3072", "p256", "p384", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-kem-768",
                  "ml-kem-1024"]
Reason = Literal["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                 "privilegeWithdrawn"]
SERIAL = Path(pattern=r"^(0x)?[0-9A-Fa-f]{1,40}(:[0-9A-Fa-f]{1,2}){0,20}$", description="the serial in hexadecimal, as the list shows it")
PASSPHRASE = Field(None, max_length=1024, description="the CA passphrase, needed to sign unless the console's process "
                                                       "has $MAILSEAL_CA_PASSPHRASE; used for this request only")


class Issued(BaseModel):
    serial: str
    email: str
    usage: str
    key_type: str
    not_before: str
    not_after: str
    status: Literal["valid", "expired", "revoked"]
    revoked_at: str | None
    reason: str | None


class IssuedPage(BaseModel):
    limit: int
    offset: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last page")
    total: int
    items: list[Issued]


class CRLInfo(BaseModel):
    number: str
    next_update: str | None


class OCSPInfo(BaseModel):
    in_certificates: bool = Field(description="whether issued certificates carry the OCSP URL (AIA)")
    command: str = Field(description="the command that serves OCSP from the register")


class Authority(BaseModel):
    directory: str
    name: str
    subject: str
    serial: str
    key_type: str
    not_before: str
    not_after: str
    crl_url: str | None
    ocsp_url: str | None
    crl: CRLInfo | None = Field(description="the last CRL published in the CA directory, if any")
    ocsp: OCSPInfo
    certificates: IssuedPage


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    usage: Usage = "sign"
    key_type: KeyType = "rsa3072"
    days: int = Field(365, ge=1, le=service_ca.MAX_VALIDITY_DAYS)
    pkcs12_password: str = Field(min_length=service_ca.MIN_P12_PASSWORD, max_length=1024,
                                 description="protects the returned PKCS#12 (PBES2 AES-256-CBC)")
    legacy: bool = Field(False, description="3DES/SHA-1 PKCS#12, the only kind gpgsm 2.2 and older NSS import")
    ca_passphrase: str | None = PASSPHRASE


class IssuedWithKey(BaseModel):
    certificate: Issued
    filename: str
    pkcs12: str = Field(description="base64 of the PKCS#12 (key, certificate, CA certificate): returned once, the "
                                    "console keeps no copy of the key")


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = "unspecified"


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(7, ge=1, le=366, description="days until the CRL's next update")
    ca_passphrase: str | None = PASSPHRASE


class Published(BaseModel):
    number: int
    revoked: int
    next_update: str | None


@router.get("/ca", response_model=Authority, summary="The internal CA and the certificates it issued, newest first")
def get_ca(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
           who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    found = service_ca.overview(app.store, app.ca_directory, app.now(), limit=limit, offset=offset)
    if found is None:
        from ..pki.authority import CAError

        raise CAError("no internal CA: create one with `mailseal ca init --name NAME` (docs/ca.md)")
    return found.to_dict()


@router.post("/ca/certificates", response_model=IssuedWithKey, status_code=201,
             summary="Issue a certificate with a new key (S/MIME BR mailbox-validated strict)")
def post_certificate(body: IssueRequest, who: Principal = Depends(recently_authenticated),
                     app: Console = Depends(console)) -> dict[str, Any]:
    made = service_ca.issue(app.store, app.ca_directory, email=body.email, usage=body.usage,
                            key_type=body.key_type, days=body.days, p12_password=body.pkcs12_password,
                            ca_passphrase=body.ca_passphrase, actor=who.actor, legacy=body.legacy)
    return {"certificate": made.record.to_dict(app.now()), "filename": made.filename,
            "pkcs12": base64.b64encode(made.pkcs12).decode("ascii")}


@router.post("/ca/certificates/{serial}/revoke", response_model=Issued, summary="Revoke a certificate with a reason")
def post_revoke(body: RevokeRequest, serial: str = SERIAL, who: Principal = Depends(recently_authenticated),
                app: Console = Depends(console)) -> dict[str, Any]:
    return service_ca.revoke(app.store, app.ca_directory, serial, body.reason, actor=who.actor).to_dict(app.now())


@router.post("/ca/crl", response_model=Published, summary="Sign and publish a CRL (crl.der in the CA directory)")
def post_crl(body: PublishRequest, who: Principal = Depends(admin), app: Console = Depends(console)) -> dict[str, Any]:
    done = service_ca.publish_crl(app.store, app.ca_directory, ca_passphrase=body.ca_passphrase, actor=who.actor,
                                  days=body.days)
    return {"number": done.number, "revoked": done.revoked,
            "next_update": done.next_update.isoformat() if done.next_update else None}


@router.get("/ca/crl", response_class=Response, summary="The last CRL published (DER)",
            responses={200: {"content": {service_ca.CRL_MEDIA_TYPE: {"schema": {"type": "string",
                                                                               "format": "binary"}}}}})
def get_crl(who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return Response(service_ca.crl_file(app.ca_directory), media_type=service_ca.CRL_MEDIA_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="crl.der"'})


__all__ = ["router"]

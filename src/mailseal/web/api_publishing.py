"""Publishing under /api/v1/publishing (docs/web.md): what `mailseal certs publish` publishes where, and the files
(SMIMEA zone fragment per domain, LDIF, PEM, P7B). The same service functions as the page
(service_publishing.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from starlette.responses import Response

from . import service_publishing
from .context import Console, console
from .sessions import API_PREFIX, Principal, user

router = APIRouter(prefix=API_PREFIX)
#: A base DN the API takes: attribute=value pairs of letters, digits, dots and hyphens (RFC 4514 without escapes).
DN_PATTERN = r"^[A-Za-z][A-Za-z0-9-]{0,63}=[A-Za-z0-9.-]{1,64}(,[A-Za-z][A-Za-z0-9-]{0,63}=[A-Za-z0-9.-]{1,64}){0,15}$"
BASE_DN = Query(None, pattern=DN_PATTERN, description="the LDIF entries' parent (ou=people,dc=example,dc=org): "
                                                       "shows each entry's DN")
BASE_DN_REQUIRED = Query(pattern=DN_PATTERN, description="the entries' parent, e.g. ou=people,dc=example,dc=org")


class Smimea(BaseModel):
    owner: str
    record: str


class LdifEntry(BaseModel):
    dn: str


class Where(BaseModel):
    smimea: Smimea
    ldif: LdifEntry | None
    bundle: bool


class Published(BaseModel):
    address: str
    fingerprint_sha256: str
    subject: str
    issuer: str
    serial: str
    not_after: str
    origins: list[str]
    published: Where
    found: dict[str, dict[str, Any]]


class Skipped(BaseModel):
    address: str
    fingerprint_sha256: str
    subject: str
    origins: list[str]
    reason: str


class Summary(BaseModel):
    at: str
    domains: list[str]
    certificates: list[Published]
    skipped: list[Skipped]
    accepted_domains_configured: bool


@router.get("/publishing", response_model=Summary, summary="What is published where, and what is left out")
def get_publishing(base_dn: str | None = BASE_DN,
                   who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_publishing.summary(app.store, app.now(), ca_directory=app.ca_directory,
                                      base_dn=base_dn).to_dict()


def _file(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/publishing/smimea/{domain}", response_class=Response,
            summary="The SMIMEA zone fragment of one domain (RFC 8162), to $INCLUDE in its zone",
            responses={200: {"content": {"text/dns": {"schema": {"type": "string"}}}}})
def get_publishing_zone(domain: str = Path(max_length=253), who: Principal = Depends(user),
                        app: Console = Depends(console)) -> Response:
    return _file(*service_publishing.download(app.store, app.now(), "smimea", ca_directory=app.ca_directory,
                                              domain=domain))


@router.get("/publishing/ldif", response_class=Response, summary="inetOrgPerson entries for an LDAP directory",
            responses={200: {"content": {"text/x-ldif": {"schema": {"type": "string"}}}}})
def get_publishing_ldif(base_dn: str = BASE_DN_REQUIRED, who: Principal = Depends(user),
                        app: Console = Depends(console)) -> Response:
    return _file(*service_publishing.download(app.store, app.now(), "ldif", ca_directory=app.ca_directory,
                                              base_dn=base_dn))


@router.get("/publishing/bundle/{fmt}", response_class=Response,
            summary="The published certificates as a PEM bundle or a PKCS#7 (.p7b) bundle",
            responses={200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}},
                                         "application/x-pkcs7-certificates": {"schema": {"type": "string",
                                                                                         "format": "binary"}}}}})
def get_publishing_bundle(fmt: Literal["pem", "p7b"], who: Principal = Depends(user),
                          app: Console = Depends(console)) -> Response:
    return _file(*service_publishing.download(app.store, app.now(), fmt, ca_directory=app.ca_directory))


__all__ = ["router"]

"""GET /api/v1/domains (docs/web.md): each accepted domain with its policy entry in effect, its counts (submission
accounts, identities, directory certificates) and what is published there. Read-only: the accepted domains are
the settings file's, the policy is changed through /api/v1/policy. The same service function as the page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from . import service_domains
from .context import Console, console
from .sessions import API_PREFIX, Principal, user

router = APIRouter(prefix=API_PREFIX)


class Domain(BaseModel):
    name: str = Field(description="as configured: example.org, or *.example.org for its subdomains")
    policy_entry: str | None = Field(description="the [policy.domains] entry that applies; null: global only")
    settings: dict[str, str | bool | None]
    sources: dict[str, str] = Field(description="where each setting comes from: default, global or domain D")
    users: int = Field(description="submission accounts with at least one address there")
    identities: int = Field(description="key store entries (certificate and private key) there")
    directory_certificates: int = Field(description="directory certificates for addresses there")
    published_certificates: int = Field(description="certificates `mailseal certs publish` publishes there")
    unpublished_certificates: int = Field(description="certificates of ours there left out (expired, revoked...)")


class DomainList(BaseModel):
    items: list[Domain]
    policy_source: str
    how_to_change: str
    at: str


@router.get("/domains", response_model=DomainList,
            summary="The accepted domains with their policy entry, counts and publishing (read-only)")
def get_domains(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_domains.domains(app.store, app.now(), ca_directory=app.ca_directory).to_dict()


__all__ = ["router"]

"""The REST API under /api/v1 (docs/web.md): the same service functions as the pages, JSON in and out, a bearer
token or the session cookie with the ``X-CSRF-Token`` header, ``limit``/``offset`` paging, RFC 9457 errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from ..store import audit
from ..store.admins import NAME_PATTERN, generate_password
from ..store.audit import AuditQuery
from . import service
from .context import Console, console
from .sessions import API_PREFIX, MAX_ID, MAX_OFFSET, Forbidden, Principal, admin, recently_authenticated, user

router = APIRouter(prefix=API_PREFIX)


class Window(BaseModel):
    label: str
    counts: dict[str, int]


class Failure(BaseModel):
    id: int
    time: str
    subject: str
    result: str
    reason: str
    sender: str = Field(alias="from")


class Gateway(BaseModel):
    """One gateway node's last heartbeat (docs/web.md, "Gateway health")."""

    name: str
    version: str
    listen: str
    started: str
    last_seen: str
    interval_seconds: int
    silent: bool = Field(description="missed three heartbeats: stopped, killed or cut off from the store")
    next_hop: str | None
    next_hop_ok: bool | None = Field(description="greeted with 220 at the last probe; null without a next hop")
    next_hop_detail: str | None
    connections: int
    in_flight: int
    waiting: int
    accepted: int
    refused: int
    deferred: int


class Dashboard(BaseModel):
    at: str
    windows: list[Window]
    expiring: list[dict[str, Any]]
    failures: list[Failure]
    gateways: list[Gateway]


class Event(BaseModel):
    id: int
    time: str
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


class Page(BaseModel):
    limit: int
    offset: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last page")


class EventPage(Page):
    items: list[Event]


class Admin(BaseModel):
    name: str
    role: str
    totp_enrolled: bool
    failed_logins: int
    locked_until: str | None
    created: str | None
    last_login: str | None


class AdminList(BaseModel):
    items: list[Admin]


class NewAdmin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    role: Literal["admin", "auditor"] = "auditor"
    password: str | None = Field(None, min_length=12, max_length=1024,
                                 description="omitted: one is generated and returned once")


class CreatedAdmin(Admin):
    password: str | None = Field(description="the generated password (shown once), else null")


class Session(BaseModel):
    key: str
    account: str
    stage: str
    client: str
    created: str | None
    last_seen: str | None
    reauth: str | None


class SessionList(BaseModel):
    items: list[Session]


class Ended(BaseModel):
    ended: int


class Token(BaseModel):
    id: int
    label: str
    account: str
    scope: str
    created: str | None
    last_used: str | None
    revoked: str | None


class TokenList(BaseModel):
    items: list[Token]


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=128)
    scope: Literal["read", "admin"] = "read"


class CreatedToken(Token):
    token: str = Field(description="the bearer token, shown once")


class SecurityKey(BaseModel):
    id: int
    account: str
    credential_id: str = Field(description="the WebAuthn credential id (base64url); never the public key")
    label: str
    transports: list[str]
    sign_count: int
    created: str | None
    last_used: str | None


class SecurityKeyList(BaseModel):
    items: list[SecurityKey]


def _utc(value: datetime | None) -> datetime | None:
    """An ISO 8601 time; without a zone it is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _query(since: datetime | None, until: datetime | None, actor: str | None, action: str | None,
           subject: str | None) -> AuditQuery:
    return AuditQuery(since=_utc(since), until=_utc(until), actor=actor or None, action=action or None,
                      subject=subject or None)


@router.get("/dashboard", response_model=Dashboard, summary="Message counts, what expires soon, recent failures")
def get_dashboard(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service.dashboard(app.store, app.now(), ca_directory=app.ca_directory).to_dict()


@router.get("/audit", response_model=EventPage, summary="The audit log, newest first")
def get_audit(since: datetime | None = None, until: datetime | None = None, actor: str | None = None,
              action: str | None = None, subject: str | None = None, limit: int = Query(50, ge=1, le=500),
              offset: int = Query(0, ge=0, le=MAX_OFFSET), who: Principal = Depends(user),
              app: Console = Depends(console)) -> dict[str, Any]:
    query = _query(since, until, actor, action, subject)
    return service.audit_page(app.store, query, limit=limit, offset=offset).to_dict()


@router.get("/audit/export", response_class=StreamingResponse, summary="The audit log as CSV, oldest first",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def get_audit_csv(since: datetime | None = None, until: datetime | None = None, actor: str | None = None,
                  action: str | None = None, subject: str | None = None, who: Principal = Depends(user),
                  app: Console = Depends(console)) -> Response:
    query = _query(since, until, actor, action, subject)
    return StreamingResponse(service.audit_csv(app.store, query), media_type="text/csv")


@router.get("/admins", response_model=AdminList, summary="Console accounts")
def get_admins(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return {"items": [a.to_dict() for a in app.admins.list()]}


@router.post("/admins", response_model=CreatedAdmin, status_code=201, summary="Add a console account")
def post_admin(body: NewAdmin, who: Principal = Depends(recently_authenticated),
               app: Console = Depends(console)) -> dict[str, Any]:
    password = body.password or generate_password()
    added = app.admins.add(body.name, password, body.role, actor=who.actor)
    return {**added.to_dict(), "password": None if body.password else password}


@router.delete("/admins/{name}", status_code=204, response_class=Response, summary="Remove a console account")
def delete_admin(name: str, who: Principal = Depends(recently_authenticated),
                 app: Console = Depends(console)) -> Response:
    from ..errors import UsageError

    if name == who.name:
        raise UsageError("you cannot remove your own account (another admin can)")
    app.admins.remove(name, actor=who.actor)
    return Response(status_code=204)


@router.get("/admins/{name}/security-keys", response_model=SecurityKeyList,
            summary="A console account's security keys (an auditor's own only)")
def get_security_keys(name: str, who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    from ..errors import UsageError
    from ..store.securitykeys import SecurityKeys

    if who.role != "admin" and name != who.name:
        raise Forbidden("an auditor sees only their own security keys")
    if app.admins.get(name) is None:
        raise UsageError(f"no console account {name!r}")
    return {"items": [k.to_dict() for k in SecurityKeys(app.store).list(name)]}


@router.delete("/admins/{name}/security-keys/{key_id}", status_code=204, response_class=Response,
               summary="Remove a console account's security key (a lost key)")
def delete_security_key(name: str, key_id: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(recently_authenticated),
                        app: Console = Depends(console)) -> Response:
    from ..store.securitykeys import SecurityKeys

    SecurityKeys(app.store).remove(name, key_id, actor=who.actor)
    return Response(status_code=204)


@router.get("/sessions", response_model=SessionList, summary="Live console sessions (an auditor's own only)")
def get_sessions(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    listed = app.sessions.list(None if who.role == "admin" else who.name, app.now())
    return {"items": [s.to_dict() for s in listed]}


@router.delete("/sessions", response_model=Ended, summary="End every console session")
def delete_sessions(who: Principal = Depends(admin), app: Console = Depends(console)) -> dict[str, Any]:
    ended = app.sessions.end_all()
    with app.store.session() as session:
        audit.record(session, "console.sessions-end-all", "*", {"ended": ended}, who.actor)
    return {"ended": ended}


@router.get("/tokens", response_model=TokenList, summary="API tokens (an auditor's own only)")
def get_tokens(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    listed = app.tokens.list(None if who.role == "admin" else who.name)
    return {"items": [t.to_dict() for t in listed]}


@router.post("/tokens", response_model=CreatedToken, status_code=201, summary="Create an API token for yourself")
def post_token(body: NewToken, who: Principal = Depends(recently_authenticated),
               app: Console = Depends(console)) -> dict[str, Any]:
    raw, token = app.tokens.create(who.name, body.label, body.scope, actor=who.actor)
    return {**token.to_dict(), "token": raw}


@router.delete("/tokens/{token_id}", response_model=Token, summary="Revoke an API token")
def delete_token(token_id: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(admin), app: Console = Depends(console)) -> dict[str, Any]:
    return app.tokens.revoke(token_id, actor=who.actor).to_dict()


__all__ = ["router"]

"""The held messages under /api/v1/held (docs/web.md): list, one with its header, release, delete; the same
service functions as the Held page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from . import service_held
from .api import Page
from .context import Console, console
from .sessions import API_PREFIX, MAX_OFFSET, Principal, admin, user

router = APIRouter(prefix=f"{API_PREFIX}/held")


class Held(BaseModel):
    id: str = Field(description="the held message's id (a unique prefix of it is enough in the paths)")
    held_at: str
    size: int
    mail_from: str
    recipients: list[str]
    reasons: dict[str, str] = Field(description="why, for each held recipient")
    message_id: str


class HeldWithHeader(Held):
    header: list[str] = Field(description="the message's header lines (never its body)")


class HeldPage(Page):
    items: list[Held]
    total: int


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unencrypted: bool = Field(False, description="send without encryption to recipients who still have no "
                                                 "certificate (the administrator's decision, audited)")
    only: list[str] = Field(default_factory=list, max_length=100,
                            description="release for these held recipients only (default: every one)")


class Released(BaseModel):
    id: str
    recipients: list[str]
    copies: int
    actions: list[str]
    unencrypted: bool


@router.get("", response_model=HeldPage, summary="Messages held by the policy, oldest first")
def get_held(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET), who: Principal = Depends(user),
             app: Console = Depends(console)) -> dict[str, Any]:
    return service_held.held_page(app.held, limit=limit, offset=offset).to_dict()


@router.get("/{held_id}", response_model=HeldWithHeader, summary="One held message: why, and its header")
def get_held_message(held_id: str, who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_held.held_message(app.held, held_id).to_dict(header=True)


@router.post("/{held_id}/release", response_model=Released,
             summary="Deliver a held message through the policy again (or unencrypted), then drop it from the hold")
def post_release(held_id: str, body: Release, who: Principal = Depends(admin),
                 app: Console = Depends(console)) -> dict[str, Any]:
    return service_held.release(app.held, held_id, unencrypted=body.unencrypted, only=body.only,
                                actor=who.actor).to_dict()


@router.delete("/{held_id}", status_code=204, response_class=Response,
               summary="Drop a held message without delivering it")
def delete_held(held_id: str, who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    service_held.delete(app.held, app.store, held_id, who.actor)
    return Response(status_code=204)


__all__ = ["router"]

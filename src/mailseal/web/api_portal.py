"""The Portal page's REST endpoints: the recipient portal's messages (never their content), one with who was
notified and who read it when, an admin's revoke, extend and new password; the same store functions as the page and `mailseal portal`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from ..store.portal import MAX_EXPIRY_DAYS, new_password
from ..store.portal_accounts import PortalAccounts as StoreAccounts
from .context import Console, console
from .sessions import API_PREFIX, Principal, admin, user

router = APIRouter(prefix=API_PREFIX)
MESSAGE_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the portal message's id")


class Recipient(BaseModel):
    address: str
    bcc: bool
    reads: int
    first_read: str | None
    last_read: str | None
    notified: str | None = Field(None, description="when the next hop accepted the recipient's notification")


class Access(BaseModel):
    time: str
    action: str
    address: str | None
    actor: str


class PortalMessage(BaseModel):
    id: str
    sender: str
    brand: str
    created: str
    expires: str | None
    state: str = Field(description="active, expired, revoked or purged")
    revoked_at: str | None
    revoked_note: str | None
    proof: str = Field(description="what a reader proves: passcode, password or account")
    read_receipt: bool
    size: int
    recipients: list[Recipient]
    replies: int
    accesses: list[Access] = Field(description="who read, replied, was refused, revoked or extended, and when")


class NewPassword(BaseModel):
    id: str
    password: str = Field(description="the message's new password, given only in this answer: pass it on by phone "
                                      "or text message")


class PortalMessages(BaseModel):
    items: list[PortalMessage]


class Revoke(BaseModel):
    note: str = Field("", max_length=255, description="what the reader sees beside \"revoked by the sender\"")


class Extend(BaseModel):
    days: int = Field(ge=0, le=MAX_EXPIRY_DAYS, description="days from now (0: never expires)")


@router.get("/portal/messages", response_model=PortalMessages, summary="The recipient portal's messages")
def get_portal_messages(sender: str = Query("", max_length=320), recipient: str = Query("", max_length=320),
                        state: Literal["", "active", "expired", "revoked", "purged"] = "",
                        limit: int = Query(100, ge=1, le=500), who: Principal = Depends(user),
                        app: Console = Depends(console)) -> dict[str, Any]:
    found = app.portal().list_messages(app.now(), sender=sender or None, recipient=recipient or None,
                                       state=state or None, limit=limit)
    return {"items": [m.to_dict() for m in found]}


@router.get("/portal/messages/{message_id}", response_model=PortalMessage,
            summary="One portal message: recipients, reads and every access (never its content)")
def get_portal_message(message_id: str = MESSAGE_ID, who: Principal = Depends(user),
                       app: Console = Depends(console)) -> dict[str, Any]:
    return app.portal().show(message_id, app.now()).to_dict()


@router.post("/portal/messages/{message_id}/revoke", response_model=PortalMessage,
             summary="Revoke a portal message (admin): its readers see \"revoked by the sender\"")
def post_portal_revoke(body: Revoke | None = None, message_id: str = MESSAGE_ID, who: Principal = Depends(admin),
                       app: Console = Depends(console)) -> dict[str, Any]:
    app.portal().revoke(message_id, note=body.note if body else "", now=app.now(), actor=who.actor)
    return app.portal().show(message_id, app.now()).to_dict()


@router.post("/portal/messages/{message_id}/extend", response_model=PortalMessage,
             summary="Set a portal message's expiry to DAYS from now (admin)")
def post_portal_extend(body: Extend, message_id: str = MESSAGE_ID, who: Principal = Depends(admin),
                       app: Console = Depends(console)) -> dict[str, Any]:
    app.portal().extend(message_id, body.days, app.now(), actor=who.actor)
    return app.portal().show(message_id, app.now()).to_dict()


class PortalAccount(BaseModel):
    address: str
    enrolled: bool = Field(description="a password and an authenticator are set")
    created: str | None
    last_sign_in: str | None
    failed: int = Field(description="failed sign-ins in a row")
    locked_until: str | None


class PortalAccounts(BaseModel):
    items: list[PortalAccount]


ADDRESS = Path(min_length=3, max_length=320, description="the recipient's address")


@router.get("/portal/accounts", response_model=PortalAccounts,
            summary="Recipients' portal accounts (proof = account): never a password or a secret")
def get_portal_accounts(who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return {"items": [a.to_dict() for a in _accounts(app).list()]}


@router.post("/portal/accounts/{address}/reset", response_model=PortalAccount,
             summary="Reset a portal account (admin): the next visit proves the mailbox and enrols again")
def post_portal_account_reset(address: str = ADDRESS, who: Principal = Depends(admin),
                              app: Console = Depends(console)) -> dict[str, Any]:
    accounts = _accounts(app)
    accounts.reset(address, actor=who.actor)
    found = accounts.get(address)
    assert found is not None  # reset keeps the row
    return found.to_dict()


@router.delete("/portal/accounts/{address}", status_code=204, response_class=Response,
               summary="Remove a portal account (admin); its portal sessions end")
def delete_portal_account(address: str = ADDRESS, who: Principal = Depends(admin),
                          app: Console = Depends(console)) -> Response:
    _accounts(app).remove(address, actor=who.actor)
    return Response(status_code=204)


def _accounts(app: Console) -> StoreAccounts:
    return StoreAccounts(app.store, None)


@router.post("/portal/messages/{message_id}/password", response_model=NewPassword,
             summary="Give a portal message a new generated password (admin); it is in this answer only")
def post_portal_password(message_id: str = MESSAGE_ID, who: Principal = Depends(admin),
                         app: Console = Depends(console)) -> dict[str, Any]:
    password = new_password()
    app.portal().set_password(message_id, password, app.now(), actor=who.actor)
    return {"id": message_id, "password": password}


__all__ = ["router"]

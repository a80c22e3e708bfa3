"""/api/v1/users: the SMTP submission accounts (docs/web.md): list a page at a time, add (a generated password is
returned once), change the addresses, reset the password, disable or enable, remove. Never the password hash. The
same service functions as the page (service_users.py); the store audits each change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from ..store.users import MAX_USERNAME_CHARS, MIN_PASSWORD_BYTES
from . import service_users
from .context import Console, console
from .sessions import API_PREFIX, MAX_OFFSET, Principal, admin, user

router = APIRouter(prefix=API_PREFIX)
USERNAME = Path(min_length=1, max_length=MAX_USERNAME_CHARS, description="the account's user name (SMTP AUTH)")
#: An address as the API takes it: printable ASCII (an internationalised domain as its A-label, xn--...).
Address = Annotated[str, StringConstraints(pattern=r"^[!-?A-~]{1,64}@[!-?A-~]{1,255}$")]
ADDRESSES = Field(min_length=1, max_length=100, description="the addresses the account may send as")


class User(BaseModel):
    id: int
    username: str
    addresses: list[str]
    disabled: bool
    created: str | None
    last_login: str | None


class UserList(BaseModel):
    items: list[User]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last page")


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS, pattern=r"^[!-~]+$")
    addresses: list[Address] = ADDRESSES
    password: str | None = Field(None, min_length=MIN_PASSWORD_BYTES, max_length=1024,
                                 description="omitted: one is generated and returned once")


class CreatedUser(User):
    password: str | None = Field(description="the generated password (returned only now), else null")


class NewAddresses(BaseModel):
    model_config = ConfigDict(extra="forbid")

    addresses: list[Address] = ADDRESSES


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, min_length=MIN_PASSWORD_BYTES, max_length=1024,
                                 description="omitted: one is generated and returned once")


@router.get("/users", response_model=UserList, summary="SMTP submission accounts, by user name")
def get_users(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
              who: Principal = Depends(user), app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.page(app.store, limit=limit, offset=offset).to_dict()


@router.get("/users/{username:path}", response_model=User, summary="One submission account")
def get_user(username: str = USERNAME, who: Principal = Depends(user),
             app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.get(app.store, username).to_dict()


@router.post("/users", response_model=CreatedUser, status_code=201, summary="Add a submission account (audited)")
def post_user(body: NewUser, who: Principal = Depends(admin), app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.add(app.store, body.username, body.addresses, body.password, who.actor).to_dict()


@router.post("/users/{username:path}/addresses", response_model=User,
             summary="Replace the addresses the account may send as (audited)")
def post_user_addresses(body: NewAddresses, username: str = USERNAME, who: Principal = Depends(admin),
                        app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.set_addresses(app.store, username, body.addresses, who.actor).to_dict()


@router.post("/users/{username:path}/password", response_model=CreatedUser,
             summary="Set a new password, generated (returned once) unless given (audited)")
def post_user_password(body: NewPassword, username: str = USERNAME, who: Principal = Depends(admin),
                       app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.reset_password(app.store, username, who.actor, body.password).to_dict()


@router.post("/users/{username:path}/disable", response_model=User,
             summary="Disable the account: it can no longer authenticate (audited)")
def post_user_disable(username: str = USERNAME, who: Principal = Depends(admin),
                      app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.set_disabled(app.store, username, True, who.actor).to_dict()


@router.post("/users/{username:path}/enable", response_model=User, summary="Enable the account again (audited)")
def post_user_enable(username: str = USERNAME, who: Principal = Depends(admin),
                     app: Console = Depends(console)) -> dict[str, Any]:
    return service_users.set_disabled(app.store, username, False, who.actor).to_dict()


@router.delete("/users/{username:path}", status_code=204, response_class=Response,
               summary="Remove the account (audited)")
def delete_user(username: str = USERNAME, who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    service_users.remove(app.store, username, who.actor)
    return Response(status_code=204)


__all__ = ["router"]

"""The console's Users page: the SMTP submission accounts (who may relay through the gateway and as which
addresses), with an admin's changes: add (a generated password shown once, or a typed one), change the addresses,
reset the password (generated, shown once), disable or enable, remove. The same service functions as
api_users.py (service_users.py); the store audits each change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import MailsealError
from ..store.users import MAX_USERNAME_CHARS, MIN_PASSWORD_BYTES
from . import service_users
from .context import Console, console
from .pages import render
from .sessions import MAX_OFFSET, Principal, admin, user

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _page(request: Request, who: Principal, app: Console, *, offset: int = 0, status: int = 200,
          shown: dict[str, Any] | None = None, error: str | None = None, form: dict[str, str] | None = None
          ) -> Response:
    listed = service_users.page(app.store, limit=PAGE_SIZE, offset=offset)
    return render(request, "users/page.html", who, status=status, page=listed, shown=shown, error=error,
                  form=form or {}, min_password=MIN_PASSWORD_BYTES, max_username=MAX_USERNAME_CHARS)


@router.get("/users")
def users_page(request: Request, offset: int = Query(0, ge=0, le=MAX_OFFSET), who: Principal = Depends(user),
               app: Console = Depends(console)) -> Response:
    return _page(request, who, app, offset=offset)


@router.post("/users")
def users_add(request: Request, username: str = Form(max_length=MAX_USERNAME_CHARS),
              addresses: str = Form(max_length=32_000), password: str = Form("", max_length=1024),
              who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    try:
        created = service_users.add(app.store, username, service_users.split_addresses(addresses), password or None,
                                    who.actor)
    except MailsealError as exc:
        return _page(request, who, app, status=400, error=exc.message,
                     form={"username": username, "addresses": addresses})
    # A generated password is shown once, on this response (never stored but as a hash, never in a URL).
    return _page(request, who, app, shown={"username": created.record.username, "password": created.password,
                                           "what": "added"})


@router.post("/users/{username:path}/addresses")
def users_addresses(username: str, addresses: str = Form(max_length=32_000), who: Principal = Depends(admin),
                    app: Console = Depends(console)) -> Response:
    service_users.set_addresses(app.store, username, service_users.split_addresses(addresses), who.actor)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username:path}/password")
def users_password(request: Request, username: str, who: Principal = Depends(admin),
                   app: Console = Depends(console)) -> Response:
    created = service_users.reset_password(app.store, username, who.actor)
    return _page(request, who, app, shown={"username": username, "password": created.password,
                                           "what": "given a new password"})


@router.post("/users/{username:path}/disable")
def users_disable(username: str, who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    service_users.set_disabled(app.store, username, True, who.actor)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username:path}/enable")
def users_enable(username: str, who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    service_users.set_disabled(app.store, username, False, who.actor)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username:path}/remove")
def users_remove(username: str, who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    service_users.remove(app.store, username, who.actor)
    return RedirectResponse("/users", status_code=303)


__all__ = ["router"]

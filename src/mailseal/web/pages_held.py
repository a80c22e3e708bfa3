"""The Held mail page: the messages the policy held (encryption required, no certificate), one with its header and
reason, and an admin's release (through the policy again, or unencrypted after a confirmation) or deletion."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ErrorCode, MailsealError, UsageError
from . import service_held
from .context import Console, console
from .pages import render
from .sessions import MAX_OFFSET, Principal, admin, user

router = APIRouter(include_in_schema=False)
#: A release the gateway could not make (still no certificate, the next hop refused): the message stays held and
#: its page says why, instead of an error page.
NOT_RELEASED = frozenset({ErrorCode.POLICY_REFUSED, ErrorCode.DELIVERY_FAILED})


def _list(request: Request, who: Principal, app: Console, *, limit: int = 50, offset: int = 0,
          notice: str | None = None) -> Response:
    if app.held is None:
        return render(request, "held/list.html", who, page=None, unavailable=service_held.NOT_HERE, notice=None)
    page = service_held.held_page(app.held, limit=limit, offset=offset)
    return render(request, "held/list.html", who, page=page, unavailable=None, notice=notice)


@router.get("/held")
def held_list(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
              who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return _list(request, who, app, limit=limit, offset=offset)


@router.get("/held/{held_id}")
def held_detail(request: Request, held_id: str, who: Principal = Depends(user),
                app: Console = Depends(console)) -> Response:
    item = service_held.held_message(app.held, held_id)
    return render(request, "held/detail.html", who, item=item, error=None)


@router.post("/held/{held_id}/release")
def held_release(request: Request, held_id: str, unencrypted: bool = Form(False), confirm: bool = Form(False),
                 only: list[str] = Form([]), who: Principal = Depends(admin),
                 app: Console = Depends(console)) -> Response:
    if unencrypted and not confirm:
        raise UsageError("tick the confirmation to release the message without encryption")
    try:
        done = service_held.release(app.held, held_id, unencrypted=unencrypted, only=only, actor=who.actor)
    except MailsealError as exc:
        if exc.code not in NOT_RELEASED:
            raise
        item = service_held.held_message(app.held, held_id)
        return render(request, "held/detail.html", who, status=409, item=item, error=exc.message)
    how = ", ".join(done.actions) or "unchanged"
    copies = f"{done.copies} {'copy' if done.copies == 1 else 'copies'}"
    notice = (f"Released {done.id[:12]} to {', '.join(done.recipients)}: {copies} ({how})"
              + (", without encryption by your decision." if done.unencrypted else "."))
    return _list(request, who, app, notice=notice)


@router.post("/held/{held_id}/delete")
def held_delete(request: Request, held_id: str, confirm: bool = Form(False), who: Principal = Depends(admin),
                app: Console = Depends(console)) -> Response:
    if not confirm:
        raise UsageError("tick the confirmation to delete the held message")
    gone = service_held.delete(app.held, app.store, held_id, who.actor)
    return _list(request, who, app, notice=f"Deleted held message {gone.id[:12]} without delivering it.")


__all__ = ["router"]

"""The console's policy page: the settings in effect with where each value comes from, the rules and the S/MIME
settings; the "what would happen" tester (a GET form: it changes nothing); and the edits an admin saves into the
store (global settings, domain and user entries, the rules as TOML), each checked before anything is written."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import MailsealError
from ..policy import ACTION_KEYS
from ..policy.actions import EncryptMode, MissingCertificate, SignMode
from ..policy.explain import Example, Explanation
from . import service_policy
from .context import Console, console
from .pages import render
from .sessions import Principal, recently_authenticated, user

router = APIRouter(include_in_schema=False)

#: The choices the forms offer for each setting; "" is "not set here: inherit".
CHOICES: dict[str, tuple[str, ...]] = {
    "sign": tuple(m.value for m in SignMode), "encrypt": tuple(m.value for m in EncryptMode),
    "on_missing_certificate": tuple(m.value for m in MissingCertificate),
    "decrypt_inbound": ("true", "false"), "verify_inbound": ("true", "false"), "strip_signatures": ("true", "false"),
}
_SPLIT = re.compile(r"[\s,;]+")


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(a for a in _SPLIT.split(value) if a)


def _page(request: Request, who: Principal, app: Console, *, status: int = 200, tested: Explanation | None = None,
          form: dict[str, Any] | None = None, errors: dict[str, str] | None = None, saved: int | None = None
          ) -> Response:
    shown = service_policy.view(app.store)
    return render(request, "policy/page.html", who, status=status, view=shown, keys=ACTION_KEYS, choices=CHOICES,
                  tested=tested, form=form or {}, errors=errors or {}, saved=saved,
                  reload_note=service_policy.RELOAD_NOTE)


@router.get("/policy")
def policy_page(request: Request, sender: str | None = Query(None, alias="from", max_length=320),
                to: str = Query("", max_length=4000), bcc: str = Query("", max_length=4000),
                subject: str = Query("", max_length=998), size: str = Query("1K", max_length=32),
                signed: bool = False, encrypted: bool = False, saved: int | None = Query(None, ge=1),
                who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    form = {"from": sender or "", "to": to, "bcc": bcc, "subject": subject, "size": size, "signed": signed,
            "encrypted": encrypted}
    if sender is None:
        return _page(request, who, app, form=form, saved=saved)
    return _tested(request, who, app, form)


@router.post("/policy/test")
def policy_test(request: Request, sender: str = Form("", alias="from", max_length=320),
                to: str = Form("", max_length=4000), bcc: str = Form("", max_length=4000),
                subject: str = Form("", max_length=998), size: str = Form("1K", max_length=32),
                signed: bool = Form(False), encrypted: bool = Form(False), text: str = Form("", max_length=1 << 20),
                who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    """The tester with a sample of the message's text for content rules: a POST, so that the sample (perhaps a
    card number) never lands in a URL, a browser history or an access log."""
    form = {"from": sender, "to": to, "bcc": bcc, "subject": subject, "size": size, "signed": signed,
            "encrypted": encrypted, "text": text}
    return _tested(request, who, app, form)


def _tested(request: Request, who: Principal, app: Console, form: dict[str, Any]) -> Response:
    text = form.get("text") or None
    example = Example(form["from"], to=_addresses(form["to"]), bcc=_addresses(form["bcc"]), subject=form["subject"],
                      size=form["size"], signed=form["signed"], encrypted=form["encrypted"], text=text)
    try:
        tested = service_policy.test(app.store, example)
    except MailsealError as exc:
        return _page(request, who, app, status=400, form=form, errors={"test": exc.message})
    return _page(request, who, app, tested=tested, form=form)


async def _values(request: Request) -> dict[str, str | None]:
    data = await request.form()
    return {k: (str(data[k]) if k in data else None) for k in ACTION_KEYS}


def _saved(request: Request, who: Principal, app: Console, where: str, edit: Any, version: int) -> Response:
    """Apply one edit to the policy in effect and store it, or show the page with the reason beside the form."""
    try:
        table = edit(service_policy.view(app.store).table)
        stored = service_policy.save(app.store, table, who.actor, version)
    except MailsealError as exc:
        return _page(request, who, app, status=400, errors={where: exc.message})
    return RedirectResponse(f"/policy?saved={stored.version}#edit", status_code=303)


@router.post("/policy/global")
async def policy_global(request: Request, version: int = Form(ge=0), who: Principal = Depends(recently_authenticated),
                        app: Console = Depends(console)) -> Response:
    values = await _values(request)
    return _saved(request, who, app, "global", lambda t: service_policy.with_globals(t, values), version)


@router.post("/policy/entries")
async def policy_entry(request: Request, kind: str = Form(max_length=8), name: str = Form(max_length=320),
                       version: int = Form(ge=0), who: Principal = Depends(recently_authenticated),
                       app: Console = Depends(console)) -> Response:
    values = await _values(request)
    return _saved(request, who, app, "entry", lambda t: service_policy.with_entry(t, kind, name, values), version)


@router.post("/policy/entries/remove")
def policy_entry_remove(request: Request, kind: str = Form(max_length=8), name: str = Form(max_length=320),
                        version: int = Form(ge=0), who: Principal = Depends(recently_authenticated),
                        app: Console = Depends(console)) -> Response:
    return _saved(request, who, app, "entry", lambda t: service_policy.without_entry(t, kind, name), version)


@router.post("/policy/rules")
def policy_rules(request: Request, rules: str = Form("", max_length=100_000), version: int = Form(ge=0),
                 who: Principal = Depends(recently_authenticated), app: Console = Depends(console)) -> Response:
    return _saved(request, who, app, "rules", lambda t: service_policy.with_rules(t, rules), version)


__all__ = ["router"]

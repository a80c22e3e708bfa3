"""The console's pages: dashboard, audit log (filter, pages, CSV), console accounts and sessions. Each calls the
same service function as its REST endpoint (web/api.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from ..errors import UsageError
from ..store.admins import generate_password
from ..store.audit import AuditQuery
from ..store.securitykeys import SecurityKeys
from . import service
from .charts import bar_chart
from .context import Console, console
from .sessions import MAX_OFFSET, Principal, admin, recently_authenticated, user

router = APIRouter(include_in_schema=False)
#: The navigation: (path, label); the pages still to come are listed without a link.
NAV = (
    ("/", "Dashboard"),
    ("/identities", "Identities"),
    ("/certificates", "Certificates"),
    ("/trust", "Trust"),
    ("/publishing", "Publishing"),
    ("/ca", "CA"),
    ("/policy", "Policy"),
    ("/domains", "Domains"),
    ("/users", "Users"),
    ("/held", "Held"),
    ("/portal", "Portal"),
    ("/verify", "Verify"),
    ("/audit", "Audit"),
    ("/admins", "Admins"),
    ("/sessions", "Sessions"),
    ("/security-keys", "Security keys"),
)
COMING: tuple[str, ...] = ()


def render(request: Request, template: str, who: Principal, status: int = 200, **context: object) -> Response:
    csrf = who.session.csrf if who.session is not None else ""
    base = {"who": who, "csrf": csrf, "nav": NAV, "coming": COMING, "path": request.url.path}
    return console(request).templates.TemplateResponse(request, template, {**base, **context}, status_code=status)


def parse_time(value: str | None, where: str) -> datetime | None:
    """An ISO 8601 time (a form's ``datetime-local`` included); without a zone it is UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{where}: {value!r} is not a time such as 2026-01-31T12:00") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def audit_query(since: str | None, until: str | None, actor: str | None, action: str | None,
                subject: str | None) -> AuditQuery:
    return AuditQuery(since=parse_time(since, "since"), until=parse_time(until, "until"), actor=actor or None,
                      action=action or None, subject=subject or None)


@router.get("/")
def dashboard_page(request: Request, who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    data = service.dashboard(app.store, app.now(), ca_directory=app.ca_directory)
    charts = [(w, bar_chart(f"Messages, {w.label}", w.counts)) for w in data.windows]
    return render(request, "dashboard.html", who, data=data, charts=charts, kinds=service.KINDS)


@router.get("/audit")
def audit_page(request: Request, since: str | None = None, until: str | None = None, actor: str | None = None,
               action: str | None = None, subject: str | None = None, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0, le=MAX_OFFSET), who: Principal = Depends(user),
               app: Console = Depends(console)) -> Response:
    query = audit_query(since, until, actor, action, subject)
    page = service.audit_page(app.store, query, limit=limit, offset=offset)
    filters = {"since": since or "", "until": until or "", "actor": actor or "", "action": action or "",
               "subject": subject or ""}
    return render(request, "audit.html", who, page=page, filters=filters)


@router.get("/audit/export.csv")
def audit_export(since: str | None = None, until: str | None = None, actor: str | None = None,
                 action: str | None = None, subject: str | None = None, who: Principal = Depends(user),
                 app: Console = Depends(console)) -> Response:
    query = audit_query(since, until, actor, action, subject)
    return StreamingResponse(service.audit_csv(app.store, query), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="mailseal-audit.csv"'})


@router.get("/admins")
def admins_page(request: Request, who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return render(request, "admins.html", who, accounts=app.admins.list(), created=None,
                  key_counts=SecurityKeys(app.store).counts())


@router.post("/admins")
def admins_add(request: Request, name: str = Form(max_length=64), role: str = Form("auditor", max_length=16),
               password: str = Form("", max_length=1024), who: Principal = Depends(recently_authenticated),
               app: Console = Depends(console)) -> Response:
    generated = not password
    chosen = password or generate_password()
    added = app.admins.add(name, chosen, role, actor=who.actor)
    # A generated password is shown once, on this page (never stored but as a hash, never in a URL).
    created = {"name": added.name, "role": added.role, "password": chosen if generated else None}
    return render(request, "admins.html", who, accounts=app.admins.list(), created=created,
                  key_counts=SecurityKeys(app.store).counts())


@router.post("/admins/{name}/remove")
def admins_remove(name: str, who: Principal = Depends(recently_authenticated),
                  app: Console = Depends(console)) -> Response:
    if name == who.name:
        raise UsageError("you cannot remove your own account (another admin can)")
    app.admins.remove(name, actor=who.actor)
    return RedirectResponse("/admins", status_code=303)


@router.get("/sessions")
def sessions_page(request: Request, who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    mine = who.session.key if who.session is not None else None
    listed = app.sessions.list(None if who.role == "admin" else who.name, app.now())
    return render(request, "sessions.html", who, sessions=listed, mine=mine)


@router.post("/sessions/end-all")
def sessions_end_all(who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    from ..store import audit

    ended = app.sessions.end_all()
    with app.store.session() as session:
        audit.record(session, "console.sessions-end-all", "*", {"ended": ended}, who.actor)
    return RedirectResponse("/login", status_code=303)


@router.post("/sessions/{key}/end")
def sessions_end(key: str, who: Principal = Depends(admin), app: Console = Depends(console)) -> Response:
    from ..store import audit

    ended = app.sessions.end_key(key)
    with app.store.session() as session:
        audit.record(session, "console.session-end", key, {"ended": ended}, who.actor)
    return RedirectResponse("/sessions", status_code=303)


__all__ = ["COMING", "NAV", "audit_query", "parse_time", "render", "router"]

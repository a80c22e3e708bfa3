"""The console's Domains page: the accepted domains (read-only: the settings file is their source of truth), each
with its policy entry in effect (edited on the Policy page), its counts and its publishing. The same service
function as api_domains.py (service_domains.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from . import service_domains
from .context import Console, console
from .pages import render
from .sessions import Principal, user

router = APIRouter(include_in_schema=False)
#: The settings always shown for a domain; the others only where the policy sets them.
MAIN_KEYS = ("sign", "encrypt", "on_missing_certificate")


@router.get("/domains")
def domains_page(request: Request, who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    shown = service_domains.domains(app.store, app.now(), ca_directory=app.ca_directory)
    return render(request, "domains/page.html", who, view=shown, how_to_change=service_domains.HOW_TO_CHANGE,
                  main_keys=MAIN_KEYS)


__all__ = ["router"]

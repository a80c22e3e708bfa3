"""The console's Internal CA page: the CA, its CRL and OCSP, and the certificates it issued; issue (the PKCS#12
comes back as the form's download, once), revoke with a reason (both after giving the password again), publish a
CRL. The same service functions as api_ca.py (service_ca.py)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import Response

from ..errors import MailsealError
from . import service_ca
from .context import REAUTH_SECONDS, Console, console
from .pages import render
from .sessions import MAX_OFFSET, Principal, admin, recently_authenticated, user

router = APIRouter(include_in_schema=False)


def _page(request: Request, who: Principal, app: Console, *, limit: int = 50, offset: int = 0,
          error: str | None = None, notice: str | None = None, status: int = 200,
          asked: dict[str, object] | None = None) -> Response:
    authority = service_ca.overview(app.store, app.ca_directory, app.now(), limit=limit, offset=offset)
    fresh = who.session is not None and who.session.reauth is not None and \
        app.now() - who.session.reauth <= timedelta(seconds=REAUTH_SECONDS)
    asked = asked or {"email": "", "usage": "sign", "key_type": "rsa3072", "days": 365, "legacy": False}
    return render(request, "ca/ca.html", who, status, ca=authority, error=error, notice=notice, fresh=fresh, asked=asked,
                  env_passphrase=service_ca.passphrase_in_environment(), usages=service_ca.USAGES,
                  key_types=service_ca.USER_KEY_TYPES, reasons=list(service_ca.REASONS),
                  max_days=service_ca.MAX_VALIDITY_DAYS, min_password=service_ca.MIN_P12_PASSWORD,
                  ocsp_command=service_ca.OCSP_COMMAND, env_name=service_ca.PASSPHRASE_ENV)


@router.get("/ca")
def ca_page(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
            who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return _page(request, who, app, limit=limit, offset=offset)


@router.post("/ca/issue")
def ca_issue(request: Request, email: str = Form(max_length=254), usage: str = Form("sign", max_length=16),
             key_type: str = Form("rsa3072", max_length=16), days: int = Form(365, ge=1, le=36500),
             pkcs12_password: str = Form(max_length=1024), ca_passphrase: str = Form("", max_length=1024),
             legacy: bool = Form(False), who: Principal = Depends(recently_authenticated), app: Console = Depends(console)) -> Response:
    try:
        made = service_ca.issue(app.store, app.ca_directory, email=email, usage=usage, key_type=key_type, days=days,
                                p12_password=pkcs12_password, ca_passphrase=ca_passphrase or None, actor=who.actor,
                                legacy=legacy)
    except MailsealError as exc:  # a wrong passphrase, an address refused: said beside the form, nothing issued
        # the form comes back filled in, but for the passwords
        asked = {"email": email, "usage": usage, "key_type": key_type, "days": days, "legacy": legacy}
        return _page(request, who, app, error=exc.message, status=400, asked=asked)
    # The key leaves once, as this download; nothing of it stays in the console.
    return Response(made.pkcs12, media_type=made.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{made.filename}"'})


@router.post("/ca/{serial}/revoke")
def ca_revoke(request: Request, serial: str, reason: str = Form("unspecified", max_length=32),
              who: Principal = Depends(recently_authenticated), app: Console = Depends(console)) -> Response:
    try:
        record = service_ca.revoke(app.store, app.ca_directory, serial, reason, actor=who.actor)
    except MailsealError as exc:
        return _page(request, who, app, error=exc.message, status=400)
    return _page(request, who, app, notice=f"Revoked {record.email}'s certificate ({reason}). The next CRL lists "
                                           "it; the OCSP responder answers “revoked” at once.")


@router.post("/ca/crl")
def ca_crl(request: Request, ca_passphrase: str = Form("", max_length=1024), who: Principal = Depends(admin),
           app: Console = Depends(console)) -> Response:
    try:
        done = service_ca.publish_crl(app.store, app.ca_directory, ca_passphrase=ca_passphrase or None,
                                      actor=who.actor)
    except MailsealError as exc:
        return _page(request, who, app, error=exc.message, status=400)
    until = done.next_update.isoformat() if done.next_update else "-"
    return _page(request, who, app, notice=f"Published CRL {done.number} ({done.revoked} revoked, next update "
                                           f"{until}).")


@router.get("/ca/crl.der")
def ca_crl_file(who: Principal = Depends(user), app: Console = Depends(console)) -> Response:
    return Response(service_ca.crl_file(app.ca_directory), media_type=service_ca.CRL_MEDIA_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="crl.der"'})


__all__ = ["router"]

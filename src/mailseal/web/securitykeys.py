"""Security keys (WebAuthn: passkeys, FIDO2 keys) in the console (docs/web.md, "Signing in"): a signed-in person
registers keys on /security-keys (after giving the password again), and at sign-in, after the password, uses one
instead of the TOTP code. The browser side is /static/securitykeys.js; these routes answer it in JSON.

Each challenge is kept with the server-side session that asked for it (``web_sessions.challenge``), for
CHALLENGE_TTL, and taken once: an answer is good for that session and that challenge only."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import SecurityKeyError, UsageError
from ..store.securitykeys import CHALLENGE_TTL, MAX_LABEL_CHARS, RelyingParty, SecurityKeys
from .auth import FAILED, THROTTLED, audit_login, failed, half_signed_in, signed_in, throttled
from .context import Console, console
from .pages import render
from .security import nonce
from .sessions import COOKIE, MAX_ID, Principal, recently_signed_in, set_cookie

log = logging.getLogger("mailseal.web")
router = APIRouter(include_in_schema=False)
PAGE = "/security-keys"


class KeyAnswer(BaseModel):
    """What the script posts: the PublicKeyCredential as JSON (base64url fields) and, at registration, a label."""

    credential: dict[str, Any]
    label: str = Field("", max_length=MAX_LABEL_CHARS)


def relying_party(app: Console) -> RelyingParty:
    """The console as the relying party: the host name and origin of ``web.public_url`` (else the listener)."""
    return RelyingParty(app.settings.rp_id, app.settings.origin)


def _json(raw: str) -> Response:
    return Response(raw, media_type="application/json")


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# Sign-in: the second step, instead of the TOTP code.

@router.post("/login/security-key/options")
def login_options(who: Principal = Depends(half_signed_in), app: Console = Depends(console)) -> Response:
    assert who.raw_session is not None
    try:
        options, challenge = SecurityKeys(app.store).authentication_options(who.name, relying_party(app))
    except UsageError:
        return _error("this account has no security key: enter the code")
    app.sessions.put_challenge(who.raw_session, "login", challenge, app.now() + CHALLENGE_TTL)
    return _json(options)


@router.post("/login/security-key")
def login(answer: KeyAnswer, who: Principal = Depends(half_signed_in), app: Console = Depends(console)) -> Response:
    assert who.raw_session is not None
    wait = throttled(app, who.client)
    if wait is not None:
        audit_login(app, "console.login-throttled", who.name, who.client)
        refused = _error(THROTTLED.format(minutes=-(-wait // 60)), 429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    challenge = app.sessions.take_challenge(who.raw_session, "login", app.now())  # used once, whatever follows
    account = app.admins.get(who.name)
    try:
        if account is None or (account.locked_until is not None and account.locked_until > app.now()):
            raise SecurityKeyError("the account is locked")
        SecurityKeys(app.store).authenticate(who.name, relying_party(app), challenge, answer.credential, app.now())
    except SecurityKeyError as exc:
        # The reason goes to the log only: the page says what it says for a wrong code.
        log.info("security key refused for %s (%s): %s", who.name, who.client, exc.message)
        failed(app, who.client)
        app.admins.record_failure(who.name, app.now())
        audit_login(app, "console.login-failed", who.name, who.client, factor="security-key")
        return _error(FAILED, 401)
    response = JSONResponse({"next": "/"})
    set_cookie(response, COOKIE, signed_in(app, who, "security-key"))
    return response


# The page of one's own keys.

@router.get(PAGE)
def keys_page(request: Request, who: Principal = Depends(recently_signed_in),
              app: Console = Depends(console)) -> Response:
    return render(request, "security_keys.html", who, keys=SecurityKeys(app.store).list(who.name),
                  origin=app.settings.origin, named=not _is_address(app.settings.rp_id), script_nonce=nonce(request))


def _is_address(host: str) -> bool:
    """Whether ``host`` is an IP address: browsers refuse it as a relying party id (web.public_url names one)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@router.post(PAGE + "/options")
def register_options(who: Principal = Depends(recently_signed_in), app: Console = Depends(console)) -> Response:
    assert who.raw_session is not None
    try:
        options, challenge = SecurityKeys(app.store).registration_options(who.name, relying_party(app))
    except UsageError as exc:
        return _error(exc.message)
    app.sessions.put_challenge(who.raw_session, "register", challenge, app.now() + CHALLENGE_TTL)
    return _json(options)


@router.post(PAGE)
def register(answer: KeyAnswer, who: Principal = Depends(recently_signed_in),
             app: Console = Depends(console)) -> Response:
    assert who.raw_session is not None
    challenge = app.sessions.take_challenge(who.raw_session, "register", app.now())
    try:
        SecurityKeys(app.store).register(who.name, relying_party(app), challenge, answer.credential, answer.label,
                                         actor=who.actor, now=app.now())
    except (SecurityKeyError, UsageError) as exc:
        log.info("security key not registered for %s (%s): %s", who.name, who.client, exc.message)
        return _error(exc.message)
    return JSONResponse({"next": PAGE})


@router.post(PAGE + "/{key_id}/remove")
def remove(key_id: int, who: Principal = Depends(recently_signed_in), app: Console = Depends(console)) -> Response:
    if not 0 < key_id <= MAX_ID:
        raise UsageError(f"no security key {key_id}")
    SecurityKeys(app.store).remove(who.name, key_id, actor=who.actor)
    return RedirectResponse(PAGE, status_code=303)


__all__ = ["KeyAnswer", "relying_party", "router"]

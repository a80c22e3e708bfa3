"""Which messages a portal session has proved a stronger proof for. A mailed code proves control of a mailbox and
opens that address's messages whose proof is ``passcode``; a message whose sender set a password (``proof =
"password"``) needs that password too, in this session; a message for an account (``proof = "account"``) needs a
session opened by the account's password and TOTP code (``satisfied``). The proof is a cookie (``__Host-mailseal-portal-p``) with
the message ids and an HMAC binding them to the session's id, under a key derived from the portal key: every
node can check it, nobody can forge or move it to another session, and it ends with the session."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from ..store.portal_key import derived_key
from ..store.portal_records import PortalSession
from .sessions import set_cookie

PROOF_COOKIE = "__Host-mailseal-portal-p"
#: The most messages one session carries a password proof for (the cookie stays small).
MAX_PROVED = 20


def _mac(key: bytes, session_raw: str, ids: list[str]) -> str:
    data = ("\0".join([session_raw, *ids])).encode()
    return hmac.new(derived_key(key, "web proof"), data, hashlib.sha256).hexdigest()


def proved(request: Request, key: bytes, session_raw: str) -> list[str]:
    """The message ids this session proved a password for (none when the cookie is absent or not this session's)."""
    value = request.cookies.get(PROOF_COOKIE, "")
    ids_part, _, mac = value.rpartition(".")
    ids = [i for i in ids_part.split(",") if i][:MAX_PROVED]
    if not ids or not hmac.compare_digest(mac.encode(), _mac(key, session_raw, ids).encode()):
        return []
    return ids


def remember(response: Response, key: bytes, session_raw: str, ids: list[str]) -> None:
    """Set the proof cookie for ``session_raw`` naming ``ids`` (the newest last, at most ``MAX_PROVED``)."""
    kept = list(dict.fromkeys(ids))[-MAX_PROVED:]
    set_cookie(response, PROOF_COOKIE, f"{','.join(kept)}.{_mac(key, session_raw, kept)}")


def satisfied(request: Request, key: bytes, session_raw: str, session: PortalSession, proof: str,
              message_id: str) -> bool:
    """Whether ``session`` may read a message of its address whose proof is ``proof``: a passcode message any
    session; an account message a session opened by the account; a password message a session that gave its
    password (the proof cookie)."""
    if proof == "passcode":
        return True
    if proof == "account":
        return session.proof == "account"
    return message_id in proved(request, key, session_raw)


__all__ = ["MAX_PROVED", "PROOF_COOKIE", "proved", "remember", "satisfied"]

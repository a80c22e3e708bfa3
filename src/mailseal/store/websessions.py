"""Console sessions kept server-side (OWASP ASVS 7.2-7.4): a 128-bit random id given to the browser, only its
SHA-256 kept here, with an idle and an absolute timeout, a CSRF token and the time of the last re-authentication.

In the shared store, so that any node can serve any request and ending a session ends it everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from .database import Store
from .tables import utcnow, web_sessions

_S = web_sessions.c
#: Bytes of randomness in a session id (ASVS 7.2.3 asks for at least 128 bits).
ID_BYTES = 16
IDLE = timedelta(minutes=15)
ABSOLUTE = timedelta(hours=8)


def id_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class WebSession:
    """A session as the console sees it; ``stage`` is ``password`` until the second factor is given, then ``ok``.
    ``key`` is the first 12 hex digits of the id's hash: enough to name the session on a page, useless as a
    cookie."""

    key: str
    account: str
    stage: str
    csrf: str
    client: str
    created: datetime
    last_seen: datetime
    reauth: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "account": self.account, "stage": self.stage, "client": self.client,
                "created": _iso(self.created), "last_seen": _iso(self.last_seen), "reauth": _iso(self.reauth)}


def _session(row: Any) -> WebSession:
    return WebSession(row.id_hash[:12], row.account, row.stage, row.csrf, row.client, row.created, row.last_seen,
                      row.reauth)


class WebSessions:
    """The sessions in ``store`` with ``idle`` and ``absolute`` timeouts."""

    def __init__(self, store: Store, *, idle: timedelta = IDLE, absolute: timedelta = ABSOLUTE) -> None:
        self.store = store
        self.idle = idle
        self.absolute = absolute

    def _expired(self, now: datetime) -> Any:
        return or_(_S.last_seen <= now - self.idle, _S.created <= now - self.absolute)

    def start(self, account: str, stage: str, client: str, now: datetime | None = None,
              replacing: str | None = None) -> tuple[str, WebSession]:
        """A new session (the raw id to put in the cookie, and its record); ``replacing`` (a raw id) ends the
        session it names in the same transaction, so that a login always gives a new id (ASVS 7.2.4)."""
        moment = now or utcnow()
        raw = secrets.token_urlsafe(ID_BYTES)
        csrf = secrets.token_urlsafe(32)
        reauth = moment if stage == "ok" else None
        values: dict[str, Any] = {"id_hash": id_hash(raw), "account": account, "stage": stage, "csrf": csrf,
                  "client": client[:64], "created": moment, "last_seen": moment,
                  "reauth": reauth}
        with self.store.session() as session:
            if replacing is not None:
                session.execute(delete(web_sessions).where(_S.id_hash == id_hash(replacing)))
            session.execute(delete(web_sessions).where(self._expired(moment)))
            session.execute(insert(web_sessions).values(**values))
        return raw, WebSession(id_hash(raw)[:12], account, stage, csrf, client[:64], moment, moment, reauth)

    def get(self, raw: str, now: datetime | None = None) -> WebSession | None:
        """The live session with the raw id ``raw`` (its last-seen time moved on), else None; an expired one is
        deleted."""
        moment = now or utcnow()
        hashed = id_hash(raw)
        with self.store.session() as session:
            row = session.execute(select(web_sessions).where(_S.id_hash == hashed)).first()
            if row is None:
                return None
            if row.last_seen <= moment - self.idle or row.created <= moment - self.absolute:
                session.execute(delete(web_sessions).where(_S.id_hash == hashed))
                return None
            session.execute(update(web_sessions).where(_S.id_hash == hashed).values(last_seen=moment))
        return _session(row)

    def reauthenticated(self, raw: str, now: datetime | None = None) -> None:
        """The password was given again in this session just now."""
        with self.store.session() as session:
            session.execute(update(web_sessions).where(_S.id_hash == id_hash(raw)).values(reauth=now or utcnow()))

    def put_challenge(self, raw: str, purpose: str, challenge: bytes, expires: datetime) -> None:
        """Keep a WebAuthn ``challenge`` for ``purpose`` (``login`` or ``register``) with the session ``raw``,
        replacing any pending one: the answer must come back to this session, before ``expires``."""
        value = f"{purpose}:{base64.urlsafe_b64encode(challenge).decode().rstrip('=')}"
        with self.store.session() as session:
            session.execute(update(web_sessions).where(_S.id_hash == id_hash(raw))
                            .values(challenge=value, challenge_expires=expires))

    def take_challenge(self, raw: str, purpose: str, now: datetime | None = None) -> bytes | None:
        """The session's pending challenge for ``purpose``, removed in the same step so that it is used once
        (two answers racing: one gets it); None when there is none, it was for another purpose, or it expired."""
        moment = now or utcnow()
        hashed = id_hash(raw)
        with self.store.session() as session:
            row = session.execute(select(_S.challenge, _S.challenge_expires).where(_S.id_hash == hashed)).first()
            if row is None or row.challenge is None:
                return None
            taken = session.connection().execute(
                update(web_sessions).where(_S.id_hash == hashed, _S.challenge == row.challenge)
                .values(challenge=None, challenge_expires=None)).rowcount
        kind, _, encoded = str(row.challenge).partition(":")
        if taken != 1 or kind != purpose or row.challenge_expires is None or row.challenge_expires <= moment:
            return None
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))

    def end(self, raw: str) -> None:
        with self.store.session() as session:
            session.execute(delete(web_sessions).where(_S.id_hash == id_hash(raw)))

    def end_key(self, key: str, account: str | None = None) -> int:
        """End the session whose ``key`` is given (only ``account``'s when given); how many ended."""
        if len(key) != 12 or any(c not in "0123456789abcdef" for c in key):
            return 0
        query = delete(web_sessions).where(_S.id_hash.like(key + "%"))
        if account is not None:
            query = query.where(_S.account == account)
        with self.store.session() as session:
            return int(session.connection().execute(query).rowcount)

    def end_account(self, account: str) -> int:
        with self.store.session() as session:
            return int(session.connection().execute(delete(web_sessions).where(_S.account == account)).rowcount)

    def end_all(self) -> int:
        with self.store.session() as session:
            return int(session.connection().execute(delete(web_sessions)).rowcount)

    def list(self, account: str | None = None, now: datetime | None = None) -> list[WebSession]:
        """The live sessions (of ``account`` when given), newest first."""
        moment = now or utcnow()
        query = select(web_sessions).where(~self._expired(moment)).order_by(_S.created.desc())
        if account is not None:
            query = query.where(_S.account == account)
        with self.store.lookup() as conn:
            return [_session(r) for r in conn.execute(query)]


__all__ = ["ABSOLUTE", "IDLE", "ID_BYTES", "WebSession", "WebSessions", "id_hash"]

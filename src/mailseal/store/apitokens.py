"""Bearer tokens for the console's REST API (docs/web.md): random, only their SHA-256 kept, scoped ``read`` or
``admin``, tied to a console account, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from ..errors import UsageError
from . import audit
from .database import Store
from .tables import api_tokens, console_admins, utcnow

SCOPES = ("read", "admin")
PREFIX = "mst_"
_T = api_tokens.c


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ApiToken:
    id: int
    label: str
    account: str
    scope: str
    created: datetime
    last_used: datetime | None
    revoked: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "account": self.account, "scope": self.scope,
                "created": _iso(self.created), "last_used": _iso(self.last_used), "revoked": _iso(self.revoked)}


def _token(row: Any) -> ApiToken:
    return ApiToken(row.id, row.label, row.account, row.scope, row.created, row.last_used, row.revoked)


class ApiTokens:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, account: str, label: str, scope: str = "read", actor: str | None = None) -> tuple[str, ApiToken]:
        """A new token for ``account`` (the raw token, shown once, and its record). An auditor gets ``read`` only."""
        if scope not in SCOPES:
            raise UsageError(f"unknown scope {scope!r}: choose {' or '.join(SCOPES)}")
        if not label or len(label) > 128:
            raise UsageError("a token needs a label of 1-128 characters")
        raw = PREFIX + secrets.token_urlsafe(32)
        with self.store.session() as session:
            owner = session.execute(select(console_admins.c.role).where(console_admins.c.name == account)).first()
            if owner is None:
                raise UsageError(f"no console account {account!r}")
            if scope == "admin" and owner.role != "admin":
                raise UsageError(f"{account!r} is an {owner.role}: its tokens can only read")
            result = session.connection().execute(insert(api_tokens).values(token_hash=_hash(raw), label=label, account=account,
                                                               scope=scope, created=utcnow()))
            assert result.inserted_primary_key is not None
            token_id = int(result.inserted_primary_key[0])
            audit.record(session, "tokens.create", account, {"id": token_id, "label": label, "scope": scope}, actor)
            row = session.execute(select(api_tokens).where(_T.id == token_id)).one()
        return raw, _token(row)

    def authenticate(self, raw: str, now: datetime | None = None) -> ApiToken | None:
        """The live token ``raw`` is (its last use recorded), else None."""
        if not raw.startswith(PREFIX):
            return None
        with self.store.session() as session:
            row = session.execute(select(api_tokens).where(_T.token_hash == _hash(raw), _T.revoked.is_(None))).first()
            if row is None:
                return None
            session.execute(update(api_tokens).where(_T.id == row.id).values(last_used=now or utcnow()))
        return _token(row)

    def list(self, account: str | None = None) -> list[ApiToken]:
        query = select(api_tokens).order_by(_T.id)
        if account is not None:
            query = query.where(_T.account == account)
        with self.store.lookup() as conn:
            return [_token(r) for r in conn.execute(query)]

    def revoke(self, token_id: int, actor: str | None = None) -> ApiToken:
        with self.store.session() as session:
            row = session.execute(select(api_tokens).where(_T.id == token_id)).first()
            if row is None:
                raise UsageError(f"no API token {token_id}")
            if row.revoked is None:
                session.execute(update(api_tokens).where(_T.id == token_id).values(revoked=utcnow()))
                audit.record(session, "tokens.revoke", row.account, {"id": token_id, "label": row.label}, actor)
            row = session.execute(select(api_tokens).where(_T.id == token_id)).one()
        return _token(row)


__all__ = ["PREFIX", "SCOPES", "ApiToken", "ApiTokens"]

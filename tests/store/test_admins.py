"""Console accounts, sessions and API tokens in the store (SQLite and PostgreSQL): argon2id hashes, lock-out,
TOTP sealed at rest and used once, sessions by hash with idle and absolute timeouts, tokens hashed and revocable."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import inspect, text

from mailseal.errors import UsageError
from mailseal.store import Store, events
from mailseal.store.admins import LOCKOUT, MAX_FAILURES, Admins
from mailseal.store.apitokens import ApiTokens
from mailseal.store.websessions import WebSessions, id_hash

PASSWORD = "a long enough secret 42"
#: Cheap argon2id for tests (the default costs ~50 ms and 64 MiB per hash).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def admins(store: Store) -> Admins:
    return Admins(store, hasher=FAST, totp_key=secrets.token_bytes(32))


def test_migration_creates_the_tables(store: Store) -> None:
    assert {"console_admins", "web_sessions", "api_tokens"} <= set(inspect(store.engine).get_table_names())


def test_add_keeps_an_argon2id_hash_only(admins: Admins, store: Store) -> None:
    added = admins.add("root", PASSWORD, "admin", actor="test")
    assert added.role == "admin" and not added.totp_enrolled and "hash" not in str(added.to_dict())
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM console_admins")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert [e.action for e in events(store)] == ["admins.add"]


def test_refusals(admins: Admins) -> None:
    admins.add("root", PASSWORD)
    with pytest.raises(UsageError, match="already exists"):
        admins.add("root", PASSWORD)
    with pytest.raises(UsageError, match="too short"):
        admins.add("other", "short")
    with pytest.raises(UsageError, match="role"):
        admins.add("other", PASSWORD, "owner")
    with pytest.raises(UsageError, match="not an account name"):
        admins.add("bad name", PASSWORD)
    assert [a.name for a in admins.list()] == ["root"]


def test_verify_password(admins: Admins) -> None:
    admins.add("root", PASSWORD)
    assert admins.verify_password("root", PASSWORD) is not None
    assert admins.verify_password("root", PASSWORD + "x") is None
    assert admins.verify_password("nobody", PASSWORD) is None


def test_unknown_user_costs_one_hash_too(admins: Admins, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = admins._verify
    monkeypatch.setattr(admins, "_verify", lambda h, p: calls.append(h) or real(h, p))
    admins.verify_password("nobody", PASSWORD)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_lock_out_after_failures_and_it_ends(admins: Admins) -> None:
    admins.add("root", PASSWORD)
    for _ in range(MAX_FAILURES):
        assert admins.verify_password("root", "wrong password!!", now=T0) is None
    assert admins.verify_password("root", PASSWORD, now=T0 + timedelta(minutes=1)) is None  # locked
    record = admins.get("root")
    assert record is not None and record.locked_until == T0 + LOCKOUT
    assert admins.verify_password("root", PASSWORD, now=T0 + LOCKOUT + timedelta(seconds=1)) is not None


def test_set_password_lifts_the_lock(admins: Admins) -> None:
    admins.add("root", PASSWORD)
    for _ in range(MAX_FAILURES):
        admins.verify_password("root", "wrong password!!")
    admins.set_password("root", "a brand new password")
    assert admins.verify_password("root", "a brand new password") is not None


def test_totp_enrol_confirm_and_no_replay(admins: Admins, store: Store) -> None:
    admins.add("root", PASSWORD)
    secret = admins.begin_totp("root")
    with store.engine.connect() as conn:
        sealed = bytes(conn.execute(text("SELECT totp_sealed FROM console_admins")).scalar_one())
    assert secret.encode() not in sealed
    code = pyotp.TOTP(secret).at(T0)
    assert not admins.check_totp("root", "000000" if code != "000000" else "111111", now=T0)
    assert admins.check_totp("root", code, now=T0)
    record = admins.get("root")
    assert record is not None and record.totp_enrolled
    assert not admins.check_totp("root", code, now=T0)  # the same code works once
    assert admins.begin_totp("root") and admins.totp_secret("root") == secret  # an enrolled secret stays
    admins.reset_totp("root")
    assert admins.totp_secret("root") is None


def test_totp_under_another_key_is_a_clear_error(admins: Admins, store: Store) -> None:
    admins.add("root", PASSWORD)
    admins.begin_totp("root")
    other = Admins(store, hasher=FAST, totp_key=secrets.token_bytes(32))
    with pytest.raises(UsageError, match="totp-reset"):
        other.totp_secret("root")


def test_remove_ends_sessions_and_tokens(admins: Admins, store: Store) -> None:
    admins.add("root", PASSWORD)
    raw, _ = WebSessions(store).start("root", "ok", "127.0.0.1")
    token, _ = ApiTokens(store).create("root", "script")
    admins.remove("root")
    assert WebSessions(store).get(raw) is None and ApiTokens(store).authenticate(token) is None
    with pytest.raises(UsageError):
        admins.remove("root")


def test_sessions_keep_only_a_hash_and_time_out(store: Store) -> None:
    sessions = WebSessions(store, idle=timedelta(minutes=15), absolute=timedelta(hours=8))
    raw, created = sessions.start("root", "ok", "127.0.0.1", now=T0)
    assert len(raw) >= 22 and created.csrf
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT id_hash FROM web_sessions")).scalar_one()
    assert stored == id_hash(raw) and raw not in stored
    assert sessions.get(raw, now=T0 + timedelta(minutes=14)) is not None
    assert sessions.get(raw, now=T0 + timedelta(minutes=28)) is not None  # seen at 14 minutes
    assert sessions.get(raw, now=T0 + timedelta(minutes=44)) is None  # idle
    raw, _ = sessions.start("root", "ok", "127.0.0.1", now=T0)
    for minutes in range(10, 8 * 60, 10):
        assert sessions.get(raw, now=T0 + timedelta(minutes=minutes)) is not None
    assert sessions.get(raw, now=T0 + timedelta(hours=8)) is None  # absolute


def test_end_one_account_all(store: Store) -> None:
    sessions = WebSessions(store)
    a1, _ = sessions.start("a", "ok", "x")
    a2, rec = sessions.start("a", "ok", "x")
    b1, _ = sessions.start("b", "ok", "x")
    replaced, _ = sessions.start("a", "ok", "x", replacing=a1)
    assert sessions.get(a1) is None and sessions.get(replaced) is not None
    assert sessions.end_key(rec.key, account="b") == 0
    assert sessions.end_key(rec.key, account="a") == 1 and sessions.get(a2) is None
    assert sessions.end_account("a") == 1 and sessions.get(b1) is not None
    assert sessions.end_all() == 1 and sessions.list() == []


def test_api_tokens(admins: Admins, store: Store) -> None:
    admins.add("root", PASSWORD)
    admins.add("eve", PASSWORD, "auditor")
    tokens = ApiTokens(store)
    raw, record = tokens.create("root", "backup script", "admin")
    with store.engine.connect() as conn:
        assert raw not in str(conn.execute(text("SELECT * FROM api_tokens")).all())
    found = tokens.authenticate(raw)
    assert found is not None and found.scope == "admin" and found.id == record.id
    assert tokens.authenticate(raw + "x") is None and tokens.authenticate("nonsense") is None
    with pytest.raises(UsageError, match="can only read"):
        tokens.create("eve", "x", "admin")
    tokens.revoke(record.id)
    assert tokens.authenticate(raw) is None
    assert [e.action for e in events(store) if e.action.startswith("tokens")] == ["tokens.create", "tokens.revoke"]

"""Portal accounts in the store (store/portal_accounts.py): the TOTP secret sealed like the console's (nothing
readable in the database, another portal key opens nothing), enrolment, a code's step accepted once, the lock-out,
the same work for unknown addresses, reset and remove, every step audited without its secrets."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from mailseal.errors import PortalError, UsageError
from mailseal.store import Store, events
from mailseal.store.portal import PortalStore
from mailseal.store.portal_accounts import PortalAccounts, SignIn

T0 = datetime(2026, 12, 7, 12, 0, 10, tzinfo=UTC)
BOB = "bob@outside.example"
PASSWORD = "a long portal password"


def _enrolled(accounts: PortalAccounts) -> str:
    secret = accounts.begin_enrolment(BOB, T0)
    assert accounts.enrol(BOB, PASSWORD, pyotp.TOTP(secret).at(T0), T0)
    return secret


def test_the_secret_is_sealed_and_bound_to_the_key(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    try:
        key = secrets.token_bytes(32)
        accounts = PortalAccounts(store, key)
        secret = _enrolled(accounts)
        for path in tmp_path.glob("mailseal.db*"):
            data = path.read_bytes()
            assert secret.encode() not in data and PASSWORD.encode() not in data, path
        later = T0 + timedelta(seconds=30)
        other = PortalAccounts(store, secrets.token_bytes(32))  # another portal key: the secret does not open
        assert other.sign_in(BOB, PASSWORD, pyotp.TOTP(secret).at(later), later) is SignIn.WRONG
        assert accounts.sign_in(BOB, PASSWORD, pyotp.TOTP(secret).at(later), later) is SignIn.OK
        assert PortalAccounts(store, None).list()[0].enrolled  # administration needs no key
        with pytest.raises(UsageError):
            PortalAccounts(store, None).begin_enrolment("new@outside.example", T0)
        details = [str(e.detail) for e in events(store, subject=BOB)]
        assert details and not any(secret in d or PASSWORD in d for d in details)
    finally:
        store.close()


def test_enrolment_rules(store: Store) -> None:
    accounts = PortalAccounts(store, secrets.token_bytes(32))
    secret = accounts.begin_enrolment(BOB, T0)
    assert accounts.begin_enrolment(BOB, T0) == secret  # pending: the same QR code on a reload
    with pytest.raises(UsageError, match="too short"):
        accounts.enrol(BOB, "short", pyotp.TOTP(secret).at(T0), T0)
    assert not accounts.enrol(BOB, PASSWORD, "000000" if pyotp.TOTP(secret).at(T0) != "000000" else "111111", T0)
    assert not accounts.get(BOB).enrolled  # type: ignore[union-attr]
    assert accounts.enrol(BOB, PASSWORD, pyotp.TOTP(secret).at(T0), T0)
    with pytest.raises(PortalError, match="enrolled already"):
        accounts.begin_enrolment(BOB, T0)
    assert not accounts.enrol(BOB, "another long password", pyotp.TOTP(secret).at(T0), T0)


def test_steps_are_used_once_and_failures_lock(store: Store) -> None:
    accounts = PortalAccounts(store, secrets.token_bytes(32))
    secret = _enrolled(accounts)
    totp = pyotp.TOTP(secret)
    assert accounts.sign_in(BOB, PASSWORD, totp.at(T0), T0) is SignIn.REPLAYED  # the enrolment's step
    t1 = T0 + timedelta(seconds=30)
    assert accounts.sign_in(BOB, PASSWORD, totp.at(t1), t1) is SignIn.OK
    assert accounts.sign_in(BOB, PASSWORD, totp.at(t1), t1 + timedelta(seconds=5)) is SignIn.REPLAYED
    # an earlier step than the last accepted one (one step of drift allowed) is a replay too
    t2 = t1 + timedelta(seconds=30)
    assert accounts.sign_in(BOB, PASSWORD, totp.at(T0), t2 - timedelta(seconds=29)) is SignIn.REPLAYED
    for i in range(3):  # with the two replays: five failures in a row
        assert accounts.sign_in(BOB, "wrong password!", totp.at(t2), t2 + timedelta(seconds=i)) is SignIn.WRONG
    locked = accounts.get(BOB)
    assert locked is not None and locked.locked_until == t2 + timedelta(seconds=2) + timedelta(minutes=15)
    assert accounts.sign_in(BOB, PASSWORD, totp.at(t2), t2 + timedelta(seconds=3)) is SignIn.LOCKED
    t3 = t2 + timedelta(minutes=16)
    assert accounts.sign_in(BOB, PASSWORD, totp.at(t3), t3) is SignIn.OK
    assert accounts.get(BOB).failed == 0 and accounts.get(BOB).last_sign_in == t3  # type: ignore[union-attr]
    assert "portal.account-locked" in [e.action for e in events(store, subject=BOB)]


def test_unknown_and_unfinished_addresses_are_none(store: Store) -> None:
    accounts = PortalAccounts(store, secrets.token_bytes(32))
    assert accounts.sign_in("nobody@nowhere.example", PASSWORD, "123456", T0) is SignIn.NONE
    secret = accounts.begin_enrolment(BOB, T0)  # started, not finished
    assert accounts.sign_in(BOB, PASSWORD, pyotp.TOTP(secret).at(T0), T0) is SignIn.NONE


def test_reset_and_remove_end_the_sessions(store: Store) -> None:
    key = secrets.token_bytes(32)
    accounts = PortalAccounts(store, key)
    messages = PortalStore(store, key)
    old = _enrolled(accounts)
    raw, _ = messages.create_session(BOB, T0, proof="account")
    accounts.reset(BOB, actor="admin")
    assert messages.get_session(raw, T0) is None and not accounts.get(BOB).enrolled  # type: ignore[union-attr]
    assert accounts.begin_enrolment(BOB, T0) != old
    raw, _ = messages.create_session(BOB, T0)
    accounts.remove(BOB, actor="admin")
    assert messages.get_session(raw, T0) is None and accounts.get(BOB) is None
    with pytest.raises(PortalError):
        accounts.reset(BOB)
    assert [e.actor for e in events(store, "portal.account-reset")] == ["admin"]

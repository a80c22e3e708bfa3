"""Security keys of console accounts (store/securitykeys.py) against a software authenticator: registration and
authentication ceremonies, the refusals (another origin or relying party, a used or expired challenge, a counter
that goes back, another account's key), and challenges kept with a session, once; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mailseal.errors import ErrorCode, SecurityKeyError, UsageError
from mailseal.store import Store, events
from mailseal.store.admins import Admins
from mailseal.store.securitykeys import CHALLENGE_TTL, MAX_KEYS, RelyingParty, SecurityKeys, user_handle
from mailseal.store.websessions import WebSessions
from tests.support.authenticator import SoftAuthenticator, b64url, unb64url
from tests.web.conftest import FAST, PASSWORD

RP = RelyingParty("console.example.org", "https://console.example.org")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def keys(store: Store) -> SecurityKeys:
    Admins(store, hasher=FAST).add("root", PASSWORD, "admin", actor="test")
    Admins(store, hasher=FAST).add("eve", PASSWORD, "auditor", actor="test")
    return SecurityKeys(store)


def _register(keys: SecurityKeys, device: SoftAuthenticator, account: str = "root", label: str = "blue key") -> int:
    options, challenge = keys.registration_options(account, RP)
    return keys.register(account, RP, challenge, device.create(options, RP.origin), label, actor="test", now=T0).id


def test_registration_keeps_the_key_and_audits_it(keys: SecurityKeys, store: Store) -> None:
    device = SoftAuthenticator()
    options, challenge = keys.registration_options("root", RP)
    parsed = json.loads(options)
    assert parsed["rp"] == {"id": RP.id, "name": RP.name} and unb64url(parsed["challenge"]) == challenge
    assert parsed["attestation"] == "none" and parsed["authenticatorSelection"]["userVerification"] == "preferred"
    assert unb64url(parsed["user"]["id"]) == user_handle("root") and "root" not in parsed["user"]["id"]
    added = keys.register("root", RP, challenge, device.create(options, RP.origin), " blue  key ", actor="t", now=T0)
    assert added.credential_id == b64url(device.credential_id) and added.label == "blue key"
    assert added.transports == ("nfc", "usb") and added.sign_count == 0
    assert [k.to_dict() for k in keys.list("root")] == [added.to_dict()] and keys.list("eve") == []
    assert "public_key" not in added.to_dict()
    event = next(e for e in events(store) if e.action == "admins.webauthn-add")
    assert event.subject == "root" and event.detail["label"] == "blue key" and event.detail["user_verified"]
    # registered again (excluded by the options, but a browser could ignore that): refused
    again, challenge = keys.registration_options("root", RP)
    assert [unb64url(c["id"]) for c in json.loads(again)["excludeCredentials"]] == [device.credential_id]
    with pytest.raises(SecurityKeyError, match="registered already"):
        keys.register("root", RP, challenge, device.create(again, RP.origin), actor="t", now=T0)


def test_sign_in_moves_the_counter_on(keys: SecurityKeys) -> None:
    device = SoftAuthenticator()
    _register(keys, device)
    for expected in (1, 2):
        options, challenge = keys.authentication_options("root", RP)
        assert [unb64url(c["id"]) for c in json.loads(options)["allowCredentials"]] == [device.credential_id]
        used = keys.authenticate("root", RP, challenge, device.get(options, RP.origin), now=T0 + timedelta(hours=1))
        assert used.sign_count == expected and used.last_used == T0 + timedelta(hours=1)
    assert keys.list("root")[0].sign_count == 2


@pytest.mark.parametrize("origin", ["https://evil.example", "http://console.example.org",
                                    "https://console.example.org:8443"])
def test_another_origin_is_refused(keys: SecurityKeys, origin: str) -> None:
    device = SoftAuthenticator()
    options, challenge = keys.registration_options("root", RP)
    with pytest.raises(SecurityKeyError, match="origin"):
        keys.register("root", RP, challenge, device.create(options, origin), actor="t")
    _register(keys, device)
    options, challenge = keys.authentication_options("root", RP)
    with pytest.raises(SecurityKeyError, match="origin") as refused:
        keys.authenticate("root", RP, challenge, device.get(options, origin))
    assert refused.value.code == ErrorCode.SECURITY_KEY


def test_another_relying_party_id_is_refused(keys: SecurityKeys) -> None:
    device = SoftAuthenticator()
    options, challenge = keys.registration_options("root", RP)
    with pytest.raises(SecurityKeyError):
        keys.register("root", RP, challenge, device.create(options, RP.origin, rp_id="evil.example"), actor="t")
    _register(keys, device)
    options, challenge = keys.authentication_options("root", RP)
    with pytest.raises(SecurityKeyError):
        keys.authenticate("root", RP, challenge, device.get(options, RP.origin, rp_id="evil.example"))


def test_an_answer_to_another_challenge_is_refused(keys: SecurityKeys) -> None:
    device = SoftAuthenticator()
    _register(keys, device)
    old, _ = keys.authentication_options("root", RP)
    _, challenge = keys.authentication_options("root", RP)
    with pytest.raises(SecurityKeyError, match="challenge"):
        keys.authenticate("root", RP, challenge, device.get(old, RP.origin))
    options, _ = keys.authentication_options("root", RP)
    with pytest.raises(SecurityKeyError, match="pending challenge"):
        keys.authenticate("root", RP, None, device.get(options, RP.origin))


def test_a_lower_or_equal_sign_count_is_refused(keys: SecurityKeys) -> None:
    device = SoftAuthenticator()
    _register(keys, device)
    device.sign_count = 9
    options, challenge = keys.authentication_options("root", RP)
    assert keys.authenticate("root", RP, challenge, device.get(options, RP.origin)).sign_count == 10
    for count in (3, 9):  # a clone that lags behind, and the same count again (get() adds one first)
        device.sign_count = count
        options, challenge = keys.authentication_options("root", RP)
        with pytest.raises(SecurityKeyError, match="sign count"):
            keys.authenticate("root", RP, challenge, device.get(options, RP.origin))
    assert keys.list("root")[0].sign_count == 10


def test_a_key_without_a_counter_works_at_zero(keys: SecurityKeys) -> None:
    device = SoftAuthenticator()
    _register(keys, device)
    for _ in range(2):
        device.sign_count = -1  # get() adds one: the authenticator reports 0 every time (WebAuthn §6.1.1)
        options, challenge = keys.authentication_options("root", RP)
        assert keys.authenticate("root", RP, challenge, device.get(options, RP.origin)).sign_count == 0


def test_a_bad_signature_and_another_accounts_key_are_refused(keys: SecurityKeys) -> None:
    device, other = SoftAuthenticator(), SoftAuthenticator()
    _register(keys, device)
    _register(keys, other, "eve")
    options, challenge = keys.authentication_options("root", RP)
    forged = device.get(options, RP.origin)
    forged["response"]["signature"] = other.get(options, RP.origin)["response"]["signature"]
    with pytest.raises(SecurityKeyError, match=r"[Ss]ignature"):
        keys.authenticate("root", RP, challenge, forged)
    with pytest.raises(SecurityKeyError, match="not one of this account"):
        keys.authenticate("root", RP, challenge, other.get(options, RP.origin))
    for junk in ("not json", "[]", {"id": 5}, {"id": b64url(device.credential_id), "response": "x"}):
        with pytest.raises(SecurityKeyError):
            keys.authenticate("root", RP, challenge, junk)  # type: ignore[arg-type]


def test_unverified_user_is_accepted_and_recorded(keys: SecurityKeys, store: Store) -> None:
    device = SoftAuthenticator(user_verified=False)  # verification is preferred, not required: presence is
    _register(keys, device)
    event = next(e for e in events(store) if e.action == "admins.webauthn-add")
    assert event.detail["user_verified"] is False
    options, challenge = keys.authentication_options("root", RP)
    assert keys.authenticate("root", RP, challenge, device.get(options, RP.origin)).sign_count == 1


def test_remove_is_per_account_and_audited(keys: SecurityKeys, store: Store) -> None:
    key_id = _register(keys, SoftAuthenticator())
    with pytest.raises(UsageError, match="no security key"):
        keys.remove("eve", key_id, actor="t")
    removed = keys.remove("root", key_id, actor="t")
    assert removed.label == "blue key" and keys.list("root") == []
    assert any(e.action == "admins.webauthn-remove" and e.subject == "root" for e in events(store))
    with pytest.raises(UsageError, match="no security key"):
        keys.authentication_options("root", RP)


def test_removing_the_account_removes_its_keys(keys: SecurityKeys, store: Store) -> None:
    _register(keys, SoftAuthenticator())
    Admins(store, hasher=FAST).remove("root", actor="t")
    assert keys.count("root") == 0


def test_at_most_max_keys(keys: SecurityKeys) -> None:
    for _ in range(MAX_KEYS):
        _register(keys, SoftAuthenticator())
    with pytest.raises(UsageError, match="remove one first"):
        keys.registration_options("root", RP)


def test_a_challenge_is_kept_with_its_session_used_once_and_short_lived(store: Store) -> None:
    sessions = WebSessions(store)
    raw, _ = sessions.start("root", "password", "127.0.0.1", T0)
    other, _ = sessions.start("root", "password", "127.0.0.1", T0)
    sessions.put_challenge(raw, "login", b"\x01" * 32, T0 + CHALLENGE_TTL)
    assert sessions.take_challenge(other, "login", T0) is None  # another session's
    assert sessions.take_challenge(raw, "register", T0) is None  # another purpose: and now it is gone
    sessions.put_challenge(raw, "login", b"\x02" * 32, T0 + CHALLENGE_TTL)
    assert sessions.take_challenge(raw, "login", T0) == b"\x02" * 32
    assert sessions.take_challenge(raw, "login", T0) is None  # once
    sessions.put_challenge(raw, "login", b"\x03" * 32, T0 + CHALLENGE_TTL)
    assert sessions.take_challenge(raw, "login", T0 + CHALLENGE_TTL) is None  # expired

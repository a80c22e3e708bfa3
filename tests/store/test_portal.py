"""The portal store on SQLite and PostgreSQL: sealed deposit, links, passcodes, sessions, rate limits, replies,
the outbox's two-node claim, and revoke / extend / show / purge (docs/portal.md)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mailseal.errors import ConfigurationError, DecryptionError, PortalError, UsageError
from mailseal.store import Store
from mailseal.store.portal import PASSCODE_MAX_TRIES, PortalStore, token_hash
from mailseal.store.portal_key import portal_key, seal, unseal
from mailseal.store.portal_records import PasscodeResult, PortalState
from mailseal.store.tables import portal_messages, portal_outbox, portal_recipients

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MARKER = "PORTAL-MARKER-7f3a9c"
MESSAGE = (f"From: alice@example.com\r\nTo: bob@outside.test\r\nSubject: Quarterly {MARKER}\r\n"
           f"Message-ID: <q1@example.com>\r\n\r\nThe body {MARKER}\r\n").encode()
BROWSER = "browser-binding-1"


@pytest.fixture
def portal(store: Store) -> PortalStore:
    return PortalStore(store, secrets.token_bytes(32))


def _deposit(portal: PortalStore, **kw: object) -> tuple[str, dict[str, str]]:
    args: dict[str, object] = {"brand": "example.com", "now": T0, "bcc": ["carol@outside.test"]}
    args.update(kw)
    dep = portal.deposit(MESSAGE, "Alice@Example.com", ["bob@outside.test", "carol@outside.test"], **args)  # type: ignore[arg-type]
    return dep.id, dep.tokens


def test_deposit_keeps_no_plaintext_and_tokens_only_hashed(portal: PortalStore) -> None:
    message_id, tokens = _deposit(portal)
    assert len(message_id) == 32 and set(tokens) == {"bob@outside.test", "carol@outside.test"}
    with portal.store.lookup() as conn:
        row = conn.execute(select(portal_messages)).one()
        hashes = {r.token_hash for r in conn.execute(select(portal_recipients))}
    assert MARKER.encode() not in bytes(row.ciphertext) and row.sender == "alice@example.com"
    assert hashes == {token_hash(t) for t in tokens.values()} and not set(tokens.values()) & hashes


def test_sqlite_file_holds_no_plaintext(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        portal = PortalStore(store, secrets.token_bytes(32))
        message_id, tokens = _deposit(portal)
        portal.add_reply(message_id, "bob@outside.test", f"Subject: re {MARKER}\r\n\r\nreply {MARKER}".encode(), T0)
        portal.queue("passcode", "", ["bob@outside.test"], f"code {MARKER}".encode(), T0)
    finally:
        store.close()
    for f in tmp_path.iterdir():
        data = f.read_bytes()
        assert MARKER.encode() not in data and all(t.encode() not in data for t in tokens.values())


def test_link_names_message_and_recipient_and_audits(portal: PortalStore) -> None:
    message_id, tokens = _deposit(portal)
    link = portal.link(tokens["carol@outside.test"], T0)
    assert link is not None and link.message_id == message_id and link.address == "carol@outside.test"
    assert link.bcc and link.state is PortalState.ACTIVE and link.sender == "alice@example.com"
    assert portal.link(tokens["bob@outside.test"][:-1] + "A" if not tokens["bob@outside.test"].endswith("A")
                       else tokens["bob@outside.test"][:-1] + "B", T0) is None
    assert portal.link("x" * 500, T0) is None and portal.link("", T0) is None
    assert any(a.action == "portal.link" for a in portal.show(message_id, T0).accesses)


def test_open_message_counts_reads_and_refuses_non_recipients(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal)
    assert portal.open_message(message_id, "Bob@outside.test", T0) == MESSAGE
    portal.open_message(message_id, "bob@outside.test", T0 + timedelta(minutes=5))
    with pytest.raises(PortalError):
        portal.open_message(message_id, "mallory@outside.test", T0)
    shown = portal.show(message_id, T0)
    bob = next(r for r in shown.recipients if r.address == "bob@outside.test")
    assert bob.reads == 2 and bob.first_read == T0 and bob.last_read == T0 + timedelta(minutes=5)
    assert [a.address for a in shown.accesses if a.action == "portal.read"] == ["bob@outside.test"] * 2


def test_read_receipt_queued_once_with_subject_only(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal, read_receipt=True)
    portal.open_message(message_id, "bob@outside.test", T0)
    portal.open_message(message_id, "bob@outside.test", T0)
    items = portal.claim("node-a", T0)
    assert [i.kind for i in items] == ["receipt"] and items[0].recipients == ("alice@example.com",)
    assert b"Read: Quarterly" in items[0].content and b"The body" not in items[0].content


def test_expiry_and_expired_message_cannot_be_read(portal: PortalStore) -> None:
    message_id, tokens = _deposit(portal, expiry_days=2)
    link = portal.link(tokens["bob@outside.test"], T0 + timedelta(days=3))
    assert link is not None and link.state is PortalState.EXPIRED
    with pytest.raises(PortalError, match="expired"):
        portal.open_message(message_id, "bob@outside.test", T0 + timedelta(days=3))
    forever, _ = _deposit(portal, expiry_days=0)
    assert portal.show(forever, T0 + timedelta(days=5000)).state is PortalState.ACTIVE


@pytest.mark.parametrize("days", [-1, 731, True])
def test_expiry_days_out_of_range_is_refused(portal: PortalStore, days: int) -> None:
    with pytest.raises(UsageError):
        _deposit(portal, expiry_days=days)


def test_passcode_right_code_once_bound_to_browser(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal)
    code = portal.issue_passcode(message_id, "bob@outside.test", BROWSER, T0)
    assert code.deliverable and len(code.code) == 8 and code.code.isdigit() and len(code.reference) == 6
    assert portal.check_passcode(message_id, "bob@outside.test", "other-browser", code.code, T0) is PasscodeResult.WRONG
    assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, code.code, T0) is PasscodeResult.OK
    assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, code.code, T0) is PasscodeResult.USED


def test_passcode_expires_after_ten_minutes(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal)
    code = portal.issue_passcode(message_id, "bob@outside.test", BROWSER, T0)
    later = T0 + timedelta(minutes=11)
    assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, code.code, later) is PasscodeResult.EXPIRED


def test_passcode_locked_after_five_wrong_tries(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal)
    code = portal.issue_passcode(message_id, "bob@outside.test", BROWSER, T0)
    wrong = "0" * 8 if code.code != "0" * 8 else "1" * 8
    results = [portal.check_passcode(message_id, "bob@outside.test", BROWSER, wrong, T0)
               for _ in range(PASSCODE_MAX_TRIES)]
    assert results == [PasscodeResult.WRONG] * PASSCODE_MAX_TRIES
    assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, code.code, T0) is PasscodeResult.LOCKED
    fresh = portal.issue_passcode(message_id, "bob@outside.test", BROWSER, T0)
    assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, fresh.code, T0) is PasscodeResult.OK


def test_passcode_of_another_message_or_recipient_fails(portal: PortalStore) -> None:
    first, _ = _deposit(portal)
    second, _ = _deposit(portal)
    code = portal.issue_passcode(first, "bob@outside.test", BROWSER, T0)
    portal.issue_passcode(second, "bob@outside.test", BROWSER, T0)
    portal.issue_passcode(first, "carol@outside.test", BROWSER, T0)
    assert portal.check_passcode(second, "bob@outside.test", BROWSER, code.code, T0) is PasscodeResult.WRONG
    assert portal.check_passcode(first, "carol@outside.test", BROWSER, code.code, T0) is PasscodeResult.WRONG
    assert portal.check_passcode(first, "dave@outside.test", BROWSER, code.code, T0) is PasscodeResult.NONE


def test_passcode_for_a_non_recipient_has_the_same_shape_and_is_not_stored(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal)
    fake = portal.issue_passcode(message_id, "mallory@outside.test", BROWSER, T0)
    assert not fake.deliverable and len(fake.code) == 8 and len(fake.reference) == 6
    assert portal.check_passcode(message_id, "mallory@outside.test", BROWSER, fake.code, T0) is PasscodeResult.NONE


def test_new_code_replaces_the_old_and_revoke_ends_codes(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal)
    old = portal.issue_passcode(message_id, "bob@outside.test", BROWSER, T0)
    new = portal.issue_passcode(message_id, "bob@outside.test", BROWSER, T0)
    if old.code != new.code:
        assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, old.code, T0) is PasscodeResult.WRONG
    portal.revoke(message_id, now=T0)
    assert portal.check_passcode(message_id, "bob@outside.test", BROWSER, new.code, T0) is PasscodeResult.NONE


def test_rate_limit_counts_per_key_and_window(portal: PortalStore) -> None:
    window = timedelta(minutes=1)
    results = [portal.hit("portal-ip:192.0.2.1", limit=3, window=window, now=T0) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False] and results[-1].count == 4
    assert portal.hit("portal-ip:192.0.2.2", limit=3, window=window, now=T0).allowed
    assert portal.hit("portal-ip:192.0.2.1", limit=3, window=window, now=T0 + window).count == 1


def test_sessions_idle_and_absolute_timeouts(portal: PortalStore) -> None:
    raw, made = portal.create_session("Bob@outside.test", T0)
    got = portal.get_session(raw, T0 + timedelta(minutes=10))
    assert got is not None and got.address == "bob@outside.test" and got.csrf == made.csrf
    assert portal.get_session(raw, T0 + timedelta(minutes=26)) is None  # idle 15 min after the last use
    raw2, _ = portal.create_session("bob@outside.test", T0)
    t = T0
    for _ in range(40):
        t += timedelta(minutes=14)
        if portal.get_session(raw2, t) is None:
            break
    assert t - T0 >= timedelta(hours=8) - timedelta(minutes=14) and t - T0 <= timedelta(hours=8, minutes=14)
    raw3, _ = portal.create_session("bob@outside.test", T0)
    portal.end_session(raw3)
    assert portal.get_session(raw3, T0) is None and portal.get_session("nope", T0) is None


def test_messages_for_and_replies(portal: PortalStore) -> None:
    first, _ = _deposit(portal)
    second, _ = _deposit(portal, now=T0 + timedelta(hours=1))
    assert [m.id for m in portal.messages_for("bob@outside.test", T0 + timedelta(hours=2))] == [second, first]
    assert portal.messages_for("alice@example.com", T0) == []
    reply_id = portal.add_reply(first, "bob@outside.test", b"Subject: Re\r\n\r\nthanks", T0)
    assert [(r.id, r.author, r.content) for r in portal.replies(first)] == [(reply_id, "bob@outside.test",
                                                                            b"Subject: Re\r\n\r\nthanks")]
    with pytest.raises(PortalError):
        portal.add_reply(first, "mallory@outside.test", b"x", T0)


def test_outbox_claim_is_taken_by_one_node_and_lease_expires(portal: PortalStore) -> None:
    item = portal.queue("passcode", "portal@example.com", ["bob@outside.test"], b"Subject: code\r\n\r\n123", T0)
    a = portal.claim("node-a", T0)
    assert [i.id for i in a] == [item] and a[0].content.endswith(b"123")
    assert portal.claim("node-b", T0 + timedelta(seconds=30)) == []
    b = portal.claim("node-b", T0 + timedelta(minutes=3))  # node-a's lease ran out
    assert [i.id for i in b] == [item]
    assert not portal.mark_sent(item, "node-a", T0 + timedelta(minutes=3))
    assert portal.mark_sent(item, "node-b", T0 + timedelta(minutes=3))
    assert portal.claim("node-a", T0 + timedelta(hours=1)) == [] and portal.outbox_counts() == {"sent": 1}
    with portal.store.lookup() as conn:
        assert conn.execute(select(portal_outbox.c.ciphertext)).scalar_one() is None


def test_outbox_failure_backs_off_then_fails(portal: PortalStore) -> None:
    item = portal.queue("reply", "bob@outside.test", ["alice@example.com"], b"x", T0)
    portal.claim("n", T0)
    assert portal.mark_failed(item, "n", "451 later", T0) == "queued"
    assert portal.claim("n", T0 + timedelta(seconds=30)) == []
    assert [i.attempts for i in portal.claim("n", T0 + timedelta(minutes=2))] == [1]
    assert portal.mark_failed(item, "n", "550 no", T0, permanent=True) == "failed"
    assert portal.outbox_counts() == {"failed": 1}


def test_revoke_by_id_sender_recipient(portal: PortalStore) -> None:
    first, tokens = _deposit(portal)
    second, _ = _deposit(portal)
    other = portal.deposit(MESSAGE, "dan@example.com", ["erin@outside.test"], brand="example.com", now=T0).id
    assert portal.revoke(first, note="sent by mistake", now=T0) == [first]
    link = portal.link(tokens["bob@outside.test"], T0)
    assert link is not None and link.state is PortalState.REVOKED and link.revoked_note == "sent by mistake"
    with pytest.raises(PortalError):
        portal.open_message(first, "bob@outside.test", T0)
    assert portal.revoke(sender="alice@example.com", now=T0) == [second]
    assert portal.revoke(recipient="erin@outside.test", now=T0) == [other]
    with pytest.raises(UsageError):
        portal.revoke(now=T0)
    with pytest.raises(PortalError):
        portal.revoke(first, now=T0)


def test_extend_moves_expiry_and_refuses_revoked(portal: PortalStore) -> None:
    message_id, _ = _deposit(portal, expiry_days=2)
    assert portal.extend(message_id, 5, T0) == T0 + timedelta(days=7)
    late = T0 + timedelta(days=10)
    assert portal.extend(message_id, 1, late) == late + timedelta(days=1)  # expired: counted from now
    assert portal.extend(message_id, 0, late) is None
    portal.revoke(message_id, now=T0)
    with pytest.raises(PortalError, match="revoked"):
        portal.extend(message_id, 1, T0)
    with pytest.raises(PortalError):
        portal.extend("0" * 32, 1, T0)


def test_purge_destroys_expired_content_and_stale_rows(portal: PortalStore) -> None:
    old, _ = _deposit(portal, expiry_days=1)
    keep, _ = _deposit(portal, expiry_days=30)
    portal.add_reply(old, "bob@outside.test", b"reply", T0)
    portal.issue_passcode(keep, "bob@outside.test", BROWSER, T0)
    portal.create_session("bob@outside.test", T0)
    result = portal.purge(T0 + timedelta(days=2))
    assert (result.messages, result.passcodes, result.sessions) == (1, 1, 1)
    with portal.store.lookup() as conn:
        rows = {r.id: r for r in conn.execute(select(portal_messages))}
        assert conn.execute(text("SELECT count(*) FROM portal_replies WHERE ciphertext IS NOT NULL")).scalar() == 0
    assert rows[old].ciphertext is None and rows[old].wrapped_key is None and rows[old].state == "purged"
    assert rows[keep].ciphertext is not None
    assert portal.show(old, T0).state is PortalState.PURGED and portal.replies(old)[0].content is None
    assert [m.id for m in portal.list_messages(T0 + timedelta(days=2), state="purged")] == [old]
    assert portal.purge(T0 + timedelta(days=2)).messages == 0


def test_list_filters(portal: PortalStore) -> None:
    a, _ = _deposit(portal, expiry_days=1)
    b, _ = _deposit(portal, expiry_days=30, now=T0 + timedelta(seconds=1))
    later = T0 + timedelta(days=2)
    assert [m.id for m in portal.list_messages(later, state="expired")] == [a]
    assert [m.id for m in portal.list_messages(later, state="active")] == [b]
    assert {m.id for m in portal.list_messages(later, recipient="carol@outside.test")} == {a, b}
    assert portal.list_messages(later, sender="nobody@example.com") == []
    with pytest.raises(UsageError):
        portal.list_messages(later, state="bogus")


def test_another_portal_key_opens_nothing(store: Store) -> None:
    message_id = PortalStore(store, secrets.token_bytes(32)).deposit(
        MESSAGE, "a@example.com", ["b@outside.test"], brand="example.com", now=T0).id
    with pytest.raises(DecryptionError):
        PortalStore(store, secrets.token_bytes(32)).open_message(message_id, "b@outside.test", T0)


def test_portal_key_file_made_once_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    key = portal_key()
    path = tmp_path / "home" / "portal.key"
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600 and portal_key() == key
    path.write_text("short\n")
    with pytest.raises(ConfigurationError, match="64 hex digits"):
        portal_key()
    with pytest.raises(ConfigurationError, match="does not exist"):
        portal_key(tmp_path / "missing.key", create=False)


def test_sealed_blob_is_bound_to_its_row() -> None:
    kek = secrets.token_bytes(32)
    sealed = seal(kek, b"secret", b"portal message 1")
    assert unseal(kek, sealed, b"portal message 1") == b"secret"
    with pytest.raises(DecryptionError):
        unseal(kek, sealed, b"portal message 2")


def test_two_nodes_claiming_at_once_never_share_an_item(store_url: str) -> None:
    """Two nodes (each its own store connection) claim the same queue at the same time from several threads:
    every item is taken exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    key = secrets.token_bytes(32)
    stores = [Store.open(store_url), Store.open(store_url)]
    try:
        nodes = [PortalStore(s, key) for s in stores]
        queued = {nodes[0].queue("passcode", "", [f"r{i}@outside.test"], f"m{i}".encode(), T0) for i in range(40)}

        def drain(index: int) -> list[int]:
            mine: list[int] = []
            while True:
                got = nodes[index % 2].claim(f"node-{index}", T0, limit=3)
                if not got:
                    return mine
                mine += [i.id for i in got]

        with ThreadPoolExecutor(4) as pool:
            taken = [ids for ids in pool.map(drain, range(4))]
        flat = [i for ids in taken for i in ids]
        assert sorted(flat) == sorted(queued) and len(flat) == len(set(flat))
    finally:
        for s in stores:
            s.close()


def test_password_proof(store: Store) -> None:
    from argon2 import PasswordHasher

    portal = PortalStore(store, secrets.token_bytes(32), hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    message_id, _ = _deposit(portal)
    assert not portal.check_password(message_id, "bob@outside.test", "anything", T0)  # no password set
    portal.set_password(message_id, "correct horse", T0)
    assert portal.show(message_id, T0).proof == "password"
    assert portal.check_password(message_id, "Bob@outside.test", "correct horse", T0)
    assert not portal.check_password(message_id, "bob@outside.test", "wrong horse", T0)
    assert not portal.check_password(message_id, "mallory@outside.test", "correct horse", T0)
    with pytest.raises(UsageError):
        portal.set_password(message_id, "short", T0)
    portal.revoke(message_id, now=T0)
    assert not portal.check_password(message_id, "bob@outside.test", "correct horse", T0)

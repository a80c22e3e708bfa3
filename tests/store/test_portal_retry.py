"""A retried SMTP transaction deposits its portal message once (docs/portal.md, "A retried message"), on SQLite and
PostgreSQL: the same digest returns the first deposit with new links only for recipients not yet notified, the
window and the message's state bound that, and two nodes depositing at once create one message."""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mailseal.errors import TemporaryError
from mailseal.store import Store
from mailseal.store.portal import NOTIFY_LEASE, RETRY_WINDOW, PortalStore, deposit_digest
from mailseal.store.portal_records import Deposit, PortalState
from mailseal.store.tables import portal_messages

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MESSAGE = b"From: alice@example.com\r\nTo: bob@outside.test\r\nSubject: Figures\r\n\r\nThe body\r\n"
RCPTS = ["bob@outside.test", "carol@outside.test"]
DIGEST = deposit_digest(hashlib.sha256(MESSAGE).hexdigest(), "alice@example.com", RCPTS)


def _deposit(portal: PortalStore, now: datetime = T0, digest: str | None = DIGEST) -> Deposit:
    return portal.deposit(MESSAGE, "alice@example.com", RCPTS, brand="example.com", now=now, digest=digest)


def _count(store: Store) -> int:
    with store.lookup() as conn:
        return int(conn.execute(select(func.count()).select_from(portal_messages)).scalar_one())


def test_digest_names_message_sender_and_recipients() -> None:
    received = hashlib.sha256(MESSAGE).hexdigest()
    assert deposit_digest(received, "Alice@Example.com", ["Carol@outside.test", "bob@outside.test"]) == DIGEST
    assert deposit_digest(received, "mallory@example.com", RCPTS) != DIGEST
    assert deposit_digest(received, "alice@example.com", RCPTS[:1]) != DIGEST
    assert deposit_digest(hashlib.sha256(MESSAGE + b"x").hexdigest(), "alice@example.com", RCPTS) != DIGEST


def test_retry_returns_the_deposit_and_relinks_only_the_unnotified(store: Store) -> None:
    portal = PortalStore(store, secrets.token_bytes(32))
    first = _deposit(portal)
    assert not first.existing and sorted(first.tokens) == RCPTS
    assert portal.mark_notified(first.id, ["Bob@outside.test"], T0) == 1
    assert portal.mark_notified(first.id, ["bob@outside.test"], T0) == 0  # once
    again = _deposit(portal, T0 + timedelta(minutes=5))
    assert again.existing and again.id == first.id and list(again.tokens) == ["carol@outside.test"]
    assert _count(store) == 1
    # bob's link still works; carol's first link (never accepted by the next hop) was replaced by the new one
    link = portal.link(first.tokens["bob@outside.test"], T0)
    assert link is not None and link.address == "bob@outside.test"
    assert portal.link(first.tokens["carol@outside.test"], T0) is None
    link = portal.link(again.tokens["carol@outside.test"], T0)
    assert link is not None and link.message_id == first.id and link.state is PortalState.ACTIVE
    portal.mark_notified(first.id, ["carol@outside.test"], T0)
    assert _deposit(portal, T0 + timedelta(minutes=6)).tokens == {}


def test_no_digest_past_the_window_or_revoked_is_a_new_message(store: Store) -> None:
    portal = PortalStore(store, secrets.token_bytes(32))
    first = _deposit(portal)
    assert _deposit(portal, digest=None).id != first.id  # no digest: no idempotence (administrative deposits)
    later = _deposit(portal, T0 + RETRY_WINDOW + timedelta(seconds=1))
    assert not later.existing and later.id != first.id
    portal.revoke(later.id, now=T0 + RETRY_WINDOW + timedelta(seconds=2))
    third = _deposit(portal, T0 + RETRY_WINDOW + timedelta(seconds=3))
    assert not third.existing and third.id not in (first.id, later.id)
    assert _count(store) == 4


def test_two_nodes_depositing_at_once_create_one_message(store_url: str) -> None:
    key = secrets.token_bytes(32)
    stores = [Store.open(store_url) for _ in range(4)]
    try:
        nodes = [PortalStore(s, key) for s in stores]
        start = threading.Barrier(len(nodes))
        results: list[Deposit] = []
        errors: list[BaseException] = []

        def run(node: PortalStore) -> None:
            start.wait()
            try:
                results.append(_deposit(node))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # a node may also be told to try again (4xx) while another holds the lock: never a second message
        print("errors", errors, [r.existing for r in results])
        assert all(type(e).__name__ in ("TemporaryError", "StoreUnavailableError") for e in errors), errors
        assert results and len({r.id for r in results}) == 1
        assert sum(not r.existing for r in results) <= 1
        assert _count(stores[0]) == 1
    finally:
        for s in stores:
            s.close()


def _from(portal: PortalStore, holder: str, now: datetime) -> Deposit:
    return portal.deposit(MESSAGE, "alice@example.com", RCPTS, brand="example.com", now=now, digest=DIGEST,
                          holder=holder)


def test_another_nodes_retry_waits_for_the_notifying_lease(store: Store) -> None:
    """Two simultaneous retries on two nodes: the second is told to try again while the first sends (no second
    link); once the first recorded its notifications the retry sends none; a crashed node's lease lapses."""
    portal = PortalStore(store, secrets.token_bytes(32))
    first = _from(portal, "node-a", T0)
    with pytest.raises(TemporaryError, match="another node"):
        _from(portal, "node-b", T0 + timedelta(seconds=5))
    assert portal.link(first.tokens["bob@outside.test"], T0) is not None  # node a's links still work
    portal.mark_notified(first.id, RCPTS, T0 + timedelta(seconds=6))
    done = _from(portal, "node-b", T0 + timedelta(seconds=7))
    assert done.existing and done.tokens == {}
    # node a crashes after depositing another message: its lease lapses and node b notifies
    other = portal.deposit(MESSAGE + b"2", "alice@example.com", RCPTS, brand="example.com", now=T0,
                           digest="f" * 64, holder="node-a")
    with pytest.raises(TemporaryError):
        portal.deposit(MESSAGE + b"2", "alice@example.com", RCPTS, brand="example.com",
                       now=T0 + NOTIFY_LEASE - timedelta(seconds=1), digest="f" * 64, holder="node-b")
    late = portal.deposit(MESSAGE + b"2", "alice@example.com", RCPTS, brand="example.com",
                          now=T0 + NOTIFY_LEASE + timedelta(seconds=1), digest="f" * 64, holder="node-b")
    assert late.id == other.id and sorted(late.tokens) == RCPTS
    # node b now holds them: node a's own late retry waits in turn
    with pytest.raises(TemporaryError):
        portal.deposit(MESSAGE + b"2", "alice@example.com", RCPTS, brand="example.com",
                       now=T0 + NOTIFY_LEASE + timedelta(seconds=2), digest="f" * 64, holder="node-a")

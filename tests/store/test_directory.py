"""The certificate directory: filing by normalised address, duplicates, skips, lookups, removal, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailseal.errors import UsageError
from mailseal.store import Directory, Store, events, fingerprint
from tests.store.certgen import make_cert


def test_import_files_certificate_under_normalised_address(store: Store) -> None:
    cert = make_cert("Alice@EXAMPLE.org")
    outcome = Directory(store).add(cert)
    assert outcome.status == "added"
    assert outcome.addresses == ("Alice@example.org",)
    found = Directory(store).find("Alice@Example.ORG")
    assert [e.fingerprint for e in found] == [fingerprint(cert)]
    assert found[0].source == "imported"


def test_local_part_is_compared_exactly(store: Store) -> None:
    Directory(store).add(make_cert("Alice@example.org"))
    assert Directory(store).find("alice@example.org") == []


def test_second_import_is_known_and_updates_last_seen(store: Store) -> None:
    cert = make_cert("bob@example.org")
    d = Directory(store)
    d.add(cert, when=datetime.now(UTC) - timedelta(days=3))
    later = datetime.now(UTC)
    assert d.add(cert, when=later).status == "known"
    (entry,) = d.find("bob@example.org")
    assert entry.last_seen == later.replace(microsecond=entry.last_seen.microsecond)
    assert entry.first_seen < entry.last_seen


def test_ca_certificate_is_skipped(store: Store) -> None:
    outcome = Directory(store).add(make_cert("ca@example.org", ca=True))
    assert outcome.status == "skipped"
    assert "CA certificate" in (outcome.reason or "")
    assert Directory(store).entries() == []


def test_certificate_without_address_is_skipped(store: Store) -> None:
    outcome = Directory(store).add(make_cert(None))
    assert outcome.status == "skipped"
    assert "no e-mail address" in (outcome.reason or "")


def test_show_accepts_unique_prefix_and_colons(store: Store) -> None:
    cert = make_cert("carol@example.org")
    Directory(store).add(cert)
    fp = fingerprint(cert)
    colon = ":".join(fp[i:i + 2] for i in range(0, 16, 2))
    assert [e.fingerprint for e in Directory(store).show(colon)] == [fp]


def test_show_refuses_short_prefix(store: Store) -> None:
    with pytest.raises(UsageError):
        Directory(store).show("abc")


def test_remove_deletes_and_audits(store: Store) -> None:
    cert = make_cert("dave@example.org")
    d = Directory(store)
    d.add(cert)
    assert d.remove(fingerprint(cert)) == 1
    assert d.find("dave@example.org") == []
    assert [e.subject for e in events(store, "certs.remove")] == ["dave@example.org"]


def test_import_is_audited(store: Store) -> None:
    cert = make_cert("erin@example.org")
    Directory(store).add(cert)
    (event,) = events(store, "certs.import")
    assert event.subject == "erin@example.org"
    assert event.detail["fingerprint"] == fingerprint(cert)


def test_expiring_lists_only_those_within_the_window(store: Store) -> None:
    d = Directory(store)
    d.add(make_cert("soon@example.org", days=10))
    d.add(make_cert("late@example.org", days=400))
    assert [e.address for e in d.expiring(30)] == ["soon@example.org"]
    assert {e.address for e in d.expiring(500)} == {"soon@example.org", "late@example.org"}


def test_certificates_for_excludes_expired(store: Store) -> None:
    d = Directory(store)
    cert = make_cert("frank@example.org", days=5)
    d.add(cert)
    assert d.certificates_for("frank@example.org") == [cert]
    assert d.certificates_for("frank@example.org", at=datetime.now(UTC) + timedelta(days=30)) == []


def test_add_many_in_batches(store: Store) -> None:
    certs = [make_cert(f"user{i}@example.org") for i in range(25)]
    outcomes = Directory(store).add_many(certs, batch=10)
    assert [o.status for o in outcomes] == ["added"] * 25
    assert len(Directory(store).entries()) == 25

"""Harvesting from verified mail: only the valid signer matching From; new keys kept beside old; capabilities."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import mailseal
from mailseal.cms.identity import Identity
from mailseal.mime.report import Report, SignerStatus
from mailseal.pki import TrustStore
from mailseal.store import Directory, Store, events, fingerprint, harvest
from tests.support.broken_certs import with_broken_signer_certificate
from tests.support.testpki import TestPKI, User


def _message(sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: you@example.net\r\nSubject: hello\r\n"
            "Content-Type: text/plain\r\n\r\nhello there\r\n").encode()


def _signed(user: User, sender: str) -> bytes:
    # mallory signing alice's message (a forgery harvesting must ignore) takes the signer's insistence
    return mailseal.sign(_message(sender), Identity(user.key, user.cert, tuple(user.chain)),
                         allow_from_mismatch=sender != user.email)


def _verify(pki: TestPKI, message: bytes) -> Report:
    return mailseal.verify(message, trust=TrustStore.from_files([pki.root_path]))


def test_new_correspondent_adds_exactly_the_signer_certificate(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    report = _verify(pki, _signed(alice, alice.email))
    assert report.status == "valid"
    result = harvest(report, alice.email, store)
    assert result.added == [fingerprint(alice.cert)]
    entries = Directory(store).entries()
    # The message also carried the intermediate and the root: neither is filed.
    assert [(e.address, e.fingerprint, e.source) for e in entries] == [
        ("alice@example.org", fingerprint(alice.cert), "harvested")]


def test_harvest_learns_capabilities_of_valid_signer(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    report = _verify(pki, _signed(alice, alice.email))
    harvest(report, alice.email, store)
    caps = Directory(store).capabilities_for(alice.email)
    assert caps is not None
    assert caps == report.signers[0].capabilities
    assert "2.16.840.1.101.3.4.1.46" in caps


def test_signed_by_someone_else_for_that_address_adds_nothing(store: Store, pki: TestPKI) -> None:
    mallory = pki.user("mallory")
    report = _verify(pki, _signed(mallory, "alice@example.org"))
    assert report.status != "valid"
    result = harvest(report, "alice@example.org", store)
    assert result.added == []
    assert Directory(store).entries() == []


def test_valid_signer_not_matching_from_adds_nothing(store: Store, pki: TestPKI) -> None:
    # Even a report that says valid (e.g. verified with the address check off) must match From to be filed.
    mallory = pki.user("mallory")
    report = _verify(pki, _signed(mallory, mallory.email))
    assert report.status == "valid"
    assert harvest(report, "alice@example.org", store).added == []
    assert Directory(store).entries() == []


def test_unsigned_message_adds_nothing(store: Store, pki: TestPKI) -> None:
    report = _verify(pki, _message("alice@example.org"))
    assert not report.signed
    assert harvest(report, "alice@example.org", store).added == []
    assert Directory(store).entries() == []


def test_bad_signature_adds_nothing(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    tampered = _signed(alice, alice.email).replace(b"hello there", b"hello THERE")
    report = _verify(pki, tampered)
    assert report.status == "invalid-signature"
    assert harvest(report, alice.email, store).added == []
    assert Directory(store).entries() == []


def test_untrusted_signer_adds_nothing(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    report = mailseal.verify(_signed(alice, alice.email), trust=TrustStore.from_files([]))
    assert report.status == "untrusted"
    assert harvest(report, alice.email, store).added == []


def test_changed_key_is_kept_beside_old_with_audit_event(store: Store, pki: TestPKI) -> None:
    old = pki.user("alice")
    new = pki.user("alice-renewed", email="alice@example.org")
    harvest(_verify(pki, _signed(old, old.email)), old.email, store)
    result = harvest(_verify(pki, _signed(new, "alice@example.org")), "alice@example.org", store)
    assert result.new_key
    assert {e.fingerprint for e in Directory(store).find("alice@example.org")} == {
        fingerprint(old.cert), fingerprint(new.cert)}
    (event,) = events(store, "harvest.new-key")
    assert event.subject == "alice@example.org"
    assert event.detail["fingerprint"] == fingerprint(new.cert)
    assert event.detail["previous"] == [fingerprint(old.cert)]


def test_same_key_again_is_not_a_new_key(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    harvest(_verify(pki, _signed(alice, alice.email)), alice.email, store)
    result = harvest(_verify(pki, _signed(alice, alice.email)), alice.email, store)
    assert result.added == [] and not result.new_key
    assert events(store, "harvest.new-key") == []


def _with_caps(report: Report, caps: tuple[str, ...], when: datetime) -> Report:
    layer = report.layers[0]
    signer = dataclasses.replace(layer.signers[0], capabilities=caps, signing_time=when)
    return dataclasses.replace(report, layers=(dataclasses.replace(layer, signers=(signer,)), *report.layers[1:]))


@pytest.mark.parametrize("order", ["older-last", "newer-last"])
def test_newest_signing_time_wins(store: Store, pki: TestPKI, order: str) -> None:
    alice = pki.user("alice")
    report = _verify(pki, _signed(alice, alice.email))
    now = datetime.now(UTC)
    older = _with_caps(report, ("2.16.840.1.101.3.4.1.2",), now - timedelta(days=2))
    newer = _with_caps(report, ("2.16.840.1.101.3.4.1.42",), now - timedelta(days=1))
    for r in ([newer, older] if order == "older-last" else [older, newer]):
        harvest(r, alice.email, store)
    assert Directory(store).capabilities_for(alice.email) == ("2.16.840.1.101.3.4.1.42",)


def test_capabilities_of_invalid_signer_are_ignored(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    harvest(_with_caps(_verify(pki, _signed(alice, alice.email)), ("2.16.840.1.101.3.4.1.2",),
                       datetime.now(UTC) - timedelta(days=1)), alice.email, store)
    tampered = _verify(pki, _signed(alice, alice.email).replace(b"hello there", b"hello THERE"))
    harvest(_with_caps(tampered, ("2.16.840.1.101.3.4.1.42",), datetime.now(UTC)), alice.email, store)
    assert Directory(store).capabilities_for(alice.email) == ("2.16.840.1.101.3.4.1.2",)


def test_unparsable_signer_certificate_is_never_filed(store: Store, pki: TestPKI) -> None:
    # Its subject cannot be parsed but its subjectAltName can: even called "valid" it must not reach the directory.
    alice = pki.user("alice")
    message = with_broken_signer_certificate(_signed(alice, alice.email), alice.cert.public_bytes(Encoding.DER),
                                             "subject")
    report = _verify(pki, message)
    assert report.status == "unknown-signer" and report.signers[0].emails == [alice.email]
    forced = Report(layers=(dataclasses.replace(report.layers[0], signers=(
        dataclasses.replace(report.signers[0], status=SignerStatus.VALID),)),))
    result = harvest(forced, alice.email, store)
    assert (result.added, result.ignored) == ([], ["the signer certificate cannot be parsed"])
    assert Directory(store).entries() == []

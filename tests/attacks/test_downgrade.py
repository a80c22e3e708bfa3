"""Attack class downgrade: make the sender's side choose a weak cipher for the victim's next encrypted messages.

SMIMECapabilities (RFC 8551 §2.5.2) are learned only from a signature that is valid for the From address, only
when newer than what is known, and never obeyed below the cipher floor: an advertisement of 3DES or RC2 alone is
ignored, and AES-256 GCM stays the choice. A naive implementation files whatever capabilities any signature
carries and encrypts with the first cipher the recipient names.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms

import mailseal
from mailseal.cms import sign_data
from mailseal.store import Directory, Store
from mailseal.store.capabilities import choose_algorithms
from mailseal.store.harvesting import harvest
from tests.attacks.support import alice, eve, mail, pkcs7_mime, resign, sign, trust
from tests.support.messages import ident
from tests.support.testpki import TestPKI

DES3, RC2 = "1.2.840.113549.3.7", "1.2.840.113549.3.2"
AES256_GCM = "2.16.840.1.101.3.4.1.46"
CONTENT = b"Content-Type: text/plain\r\n\r\nhello\r\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def _advertising(pki: TestPKI, oids: list[str], *, when: datetime | None = None, user: str = "alice",
                 sender: str = "alice@example.org") -> bytes:
    """A message signed by ``user`` whose SMIMECapabilities name only ``oids`` (re-signed: the signature holds)."""
    who = alice(pki) if user == "alice" else eve(pki)
    info = cms.ContentInfo.load(sign_data(CONTENT, ident(who), detached=False, signing_time=when))
    for attr in info["content"]["signer_infos"][0]["signed_attrs"]:
        if attr["type"].native == "smime_capabilities":
            attr["values"] = cms.SetOfSMIMECapabilites([cms.SMIMECapabilites(
                [{"capability_id": oid} for oid in oids])])
    return pkcs7_mime(resign(info, who), "signed-data",
                      f"From: {sender}\r\nTo: bob@example.org\r\nSubject: caps\r\n".encode())


def _learned(store: Store, message: bytes, pki: TestPKI, address: str = "alice@example.org") -> tuple[str, ...] | None:
    report = mailseal.verify(message, trust=trust(pki))
    harvest(report, address, store)
    entries = Directory(store).find(address)
    return entries[0].capabilities if entries else None


def test_valid_signature_capabilities_are_learned(store: Store, pki: TestPKI) -> None:
    """Sanity: the crafted attribute is read and filed when the signature is valid."""
    assert _learned(store, _advertising(pki, [AES256_GCM, DES3]), pki) == (AES256_GCM, DES3)


def test_legacy_only_advertisement_is_ignored_below_the_floor(store: Store, pki: TestPKI) -> None:
    """alice's valid signature names 3DES and RC2 only. Naive: encrypts her next message with 3DES."""
    caps = _learned(store, _advertising(pki, [DES3, RC2]), pki)
    assert caps == (DES3, RC2)
    assert choose_algorithms([caps]) == ("aes256-gcm", "pkcs1v15")


@pytest.mark.parametrize("floor", ["aes128-cbc", "aes128-gcm"])
def test_choice_never_goes_below_the_floor(floor: str) -> None:
    """With CBC allowed or not, a 3DES/RC2/AES-CBC advertisement never pulls the choice below the floor. Naive: the
    recipient's first listed cipher."""
    cipher, _ = choose_algorithms([(DES3, RC2, "2.16.840.1.101.3.4.1.2")], floor=floor)
    assert cipher in ("aes256-gcm", "aes128-cbc") and (floor != "aes128-gcm" or cipher == "aes256-gcm")


def test_address_mismatch_signature_teaches_nothing(store: Store, pki: TestPKI) -> None:
    """eve signs From: alice with her own valid certificate, advertising 3DES. Naive: files the capabilities
    under alice."""
    message = _advertising(pki, [DES3], user="eve", sender="alice@example.org")
    assert mailseal.verify(message, trust=trust(pki)).status == "address-mismatch"
    assert _learned(store, message, pki) is None


def test_untrusted_signature_teaches_nothing(store: Store, pki: TestPKI) -> None:
    """The same advertisement verified with no trust anchor: intact, but nobody vouches for the key. Naive: files
    the capabilities of any intact signature."""
    message = _advertising(pki, [DES3])
    report = mailseal.verify(message)
    assert report.status == "untrusted"
    harvest(report, "alice@example.org", store)
    assert Directory(store).find("alice@example.org") == []


def test_broken_signature_teaches_nothing(store: Store, pki: TestPKI) -> None:
    """A tampered signed message from "alice". Naive: reads the capabilities before (or without) checking the
    signature."""
    signed = sign(mail("alice@example.org", b"original\r\n"), alice(pki))
    assert _learned(store, signed.replace(b"original", b"changed!"), pki) is None


def test_replayed_older_advertisement_does_not_override(store: Store, pki: TestPKI) -> None:
    """alice's genuine old message (signed a year ago, CBC only) replayed after a newer one (GCM). Naive: the last
    message received wins, and the next message to alice is CBC."""
    now = datetime.now(UTC).replace(microsecond=0)
    assert _learned(store, _advertising(pki, [AES256_GCM], when=now - timedelta(hours=1)), pki) == (AES256_GCM,)
    old = _advertising(pki, ["2.16.840.1.101.3.4.1.2"], when=now - timedelta(days=365))
    assert _learned(store, old, pki) == (AES256_GCM,)


def test_future_signing_time_does_not_freeze_capabilities(store: Store, pki: TestPKI) -> None:
    """A signing time ten years ahead would make its advertisement "newest" for a decade, so no later message
    could change it. Its time is not believed: it only fills a gap, and the next real message replaces it. Naive:
    orders by the claimed time and keeps the 3DES advertisement for ten years."""
    now = datetime.now(UTC).replace(microsecond=0)
    assert _learned(store, _advertising(pki, [DES3], when=now + timedelta(days=3650)), pki) == (DES3,)
    assert _learned(store, _advertising(pki, [AES256_GCM], when=now), pki) == (AES256_GCM,)

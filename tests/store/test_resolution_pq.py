"""Recipient resolution with ML-KEM certificates (docs/pq.md): which certificates each post_quantum mode picks."""

from __future__ import annotations

import pytest

from mailseal.errors import RecipientError
from mailseal.store import Directory, Store
from mailseal.store.resolution import resolve_recipient
from tests.support.testpki import TestPKI

ADDRESS = "pat@partner.example"


@pytest.fixture
def both(store: Store, pki: TestPKI) -> Directory:
    directory = Directory(store)
    directory.add(pki.user("res-pat-rsa", email=ADDRESS).cert, "imported")
    directory.add(pki.user("res-pat-kem", "ml-kem-1024", email=ADDRESS).cert, "imported")
    return directory


def _kinds(directory: Directory, mode: str) -> list[str]:
    found = resolve_recipient(ADDRESS, directory, post_quantum=mode)
    assert found.certificate == found.all_certificates[0]
    return [type(c.public_key()).__name__.removeprefix("_") for c in found.all_certificates]


def test_hybrid_gives_both_certificates(both: Directory) -> None:
    assert sorted(_kinds(both, "hybrid")) == ["MLKEM1024PublicKey", "RSAPublicKey"]


@pytest.mark.parametrize("mode", ["prefer_pq", "require_pq"])
def test_pq_modes_give_only_the_ml_kem_certificate(both: Directory, mode: str) -> None:
    assert _kinds(both, mode) == ["MLKEM1024PublicKey"]


def test_prefer_pq_falls_back_to_classical_and_require_pq_refuses(store: Store, pki: TestPKI) -> None:
    directory = Directory(store)
    directory.add(pki.user("res-pat-rsa", email=ADDRESS).cert, "imported")
    assert _kinds(directory, "prefer_pq") == ["RSAPublicKey"]
    assert _kinds(directory, "hybrid") == ["RSAPublicKey"]
    with pytest.raises(RecipientError, match="no ML-KEM certificate"):
        resolve_recipient(ADDRESS, directory, post_quantum="require_pq")

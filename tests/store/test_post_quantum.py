"""The store with post-quantum keys (docs/pq.md): which certificates each post_quantum mode picks, sealed keys."""

from __future__ import annotations

import pytest

from mailseal.cms import decrypt_data, envelope_data
from mailseal.cms.identity import Identity
from mailseal.errors import RecipientError
from mailseal.store import Directory, KeyStore, Store
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


@pytest.mark.parametrize(("key_type", "usage"), [("ml-kem-768", "encrypt"), ("ml-kem-1024", "encrypt"),
                                                 ("ml-dsa-44", "sign"), ("ml-dsa-87", "sign")])
def test_key_store_seals_and_returns_post_quantum_keys(keystore: KeyStore, pki: TestPKI, key_type: str,
                                                       usage: str) -> None:
    """The key store keeps ML-KEM and ML-DSA keys sealed like any other (their PKCS#8 seed form), filed by the
    usage the certificate allows."""
    user = pki.user(f"ks-{key_type}", key_type)
    keystore.add(Identity(user.key, user.cert, tuple(user.chain)))  # type: ignore[arg-type]
    back = keystore.identity_for(user.email, usage)
    assert back.certificate == user.cert
    assert back.private_key.public_key().public_bytes_raw() == user.key.public_key().public_bytes_raw()  # type: ignore[union-attr]
    if usage == "encrypt":
        sealed = envelope_data(b"from the store", [user.cert])
        assert decrypt_data(sealed, back.private_key, back.certificate).content == b"from the store"

"""Store fixtures: every store test runs on SQLite and on PostgreSQL (ids ``sqlite`` / ``postgresql``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailseal.store import KeyStore, Store
from tests.support.postgres import drop_database, fresh_database, postgres_url

__all__ = ["postgres_url"]

#: Cheap scrypt for tests (the default costs ~0.3 s per unlock); the parameters are stored with the salt.
FAST_SCRYPT = {"n": 2**12, "r": 8, "p": 1}
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'mailseal.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    url, name = fresh_database(server)
    try:
        yield url
    finally:
        drop_database(server, name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def keystore(store: Store) -> KeyStore:
    return KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT)

"""Fixtures the CLI tests share: alice of the test PKI and a message from her."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.testpki import TestPKI, User


@pytest.fixture
def alice(pki: TestPKI) -> User:
    return pki.user("alice")


@pytest.fixture
def message(tmp_path: Path, alice: User) -> Path:
    path = tmp_path / "msg.eml"
    path.write_bytes(f"From: {alice.email}\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n".encode())
    return path

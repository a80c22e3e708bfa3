"""Fixtures of the policy page's tests: a settings file whose [policy] is the fallback (accepted domain
example.org), and keys and certificates in the console's store so that the tester's facts come from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailseal.cms.identity import Identity
from mailseal.store import Directory, KeyStore
from tests.support.testpki import TestPKI
from tests.web.conftest import Console

SETTINGS = """
[gateway]
accepted_domains = ["example.org"]

[policy]
sign = "if-key"
encrypt = "if-possible"

[policy.domains."partner.example"]
on_missing_certificate = "hold"

[[policy.rules]]
name = "secure-subject"
direction = "outbound"
subject_contains = "[secure]"
encrypt = "require"
"""


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mailseal.toml"
    path.write_text(SETTINGS)
    monkeypatch.setenv("MAILSEAL_CONFIG", str(path))
    return path


@pytest.fixture
def stocked(console: Console, pki: TestPKI, settings_file: Path) -> Console:
    """alice@example.org has a signing key; bob@partner.example has a certificate, carol@partner.example none."""
    alice = pki.user("alice")
    KeyStore(console.store, b"pass", scrypt={"n": 2**12, "r": 8, "p": 1}).add(
        Identity(alice.key, alice.cert, tuple(alice.chain)), "sign")
    Directory(console.store).add(pki.user("bob", email="bob@partner.example").cert)
    return console


__all__ = ["SETTINGS", "settings_file", "stocked"]

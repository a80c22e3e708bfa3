"""pki/sealing.py: a passphrase-sealed document opens with its passphrase and format only; a changed header,
a wrong passphrase and a damaged document are told apart (the CA key file and a backup's secrets both use it)."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidTag

from mailseal.pki.sealing import seal, unseal

FAST = {"n": 2**4, "r": 8, "p": 1}


def test_round_trip_and_format() -> None:
    blob = seal(b"secret data", b"passphrase", "test/1", scrypt=FAST)
    assert unseal(blob, b"passphrase", "test/1") == b"secret data"
    assert b"secret data" not in blob
    with pytest.raises(ValueError, match="not a other/1 document"):
        unseal(blob, b"passphrase", "other/1")
    pretty = seal(b"x", b"passphrase", "test/1", scrypt=FAST, pretty=True)
    assert pretty.endswith(b"}\n") and unseal(pretty, b"passphrase", "test/1") == b"x"


def test_wrong_passphrase_and_changed_header_fail_the_tag() -> None:
    blob = seal(b"secret data", b"passphrase", "test/1", scrypt=FAST)
    with pytest.raises(InvalidTag):
        unseal(blob, b"wrong", "test/1")
    doc = json.loads(blob)
    doc["kdf"]["n"] = 2**5  # authenticated: a changed cost is a changed document
    with pytest.raises(InvalidTag):
        unseal(json.dumps(doc).encode(), b"passphrase", "test/1")


@pytest.mark.parametrize("damage", [b"", b"not json", b"[]", b'{"format": "test/1"}'])
def test_damaged_documents_are_value_errors(damage: bytes) -> None:
    with pytest.raises(ValueError):
        unseal(damage, b"passphrase", "test/1")


def test_a_forged_cost_is_refused_before_any_work() -> None:
    doc = json.loads(seal(b"x", b"passphrase", "test/1", scrypt=FAST))
    doc["kdf"]["n"] = 2**30
    with pytest.raises(ValueError, match="out of range"):
        unseal(json.dumps(doc).encode(), b"passphrase", "test/1")

"""Telling a PKCS#12 file from a DER private key (RFC 7292 §4: a PFX is a SEQUENCE whose first element is INTEGER 3)
by its first bytes, as the key store does for every key it unseals."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from mailseal.cms.identity import load_private_key, looks_like_pkcs12
from tests.support.testpki import TestPKI

FORMATS = {"pkcs8": serialization.PrivateFormat.PKCS8, "traditional": serialization.PrivateFormat.TraditionalOpenSSL}


@pytest.mark.parametrize("key_type", ["rsa2048", "ec-p256"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_der_key_is_not_pkcs12_and_loads(pki: TestPKI, key_type: str, fmt: str) -> None:
    user = pki.user("sniff", key_type)
    der = user.key.private_bytes(serialization.Encoding.DER, FORMATS[fmt], serialization.NoEncryption())
    assert not looks_like_pkcs12(der)
    pkcs8 = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert load_private_key(der).private_bytes(*pkcs8) == user.key.private_bytes(*pkcs8)


@pytest.mark.parametrize("which", ["p12_path", "legacy_p12_path"])
def test_pkcs12_files_are_recognised(pki: TestPKI, which: str) -> None:
    assert looks_like_pkcs12(getattr(pki.user("sniff"), which).read_bytes())


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x30\x03\x02\x01\x00", b"\x30\x80\x02\x01\x03", b"not DER"])
def test_short_or_broken_data_is_not_pkcs12(data: bytes) -> None:
    assert not looks_like_pkcs12(data)

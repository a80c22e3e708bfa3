"""Algorithm choice from SMIMECapabilities (RFC 8551 §2.7): strongest common cipher, floor, unknown, OAEP."""

from __future__ import annotations

import pytest

from mailseal.cms.algorithms import CAPABILITY_OIDS, CONTENT_CIPHERS
from mailseal.errors import RecipientError, UsageError
from mailseal.store import choose_cipher, choose_key_transport, choose_key_transport_for_all
from mailseal.store.capabilities import CIPHER_OIDS, CIPHER_PREFERENCE

GCM256, GCM128, CHACHA = "2.16.840.1.101.3.4.1.46", "2.16.840.1.101.3.4.1.6", "1.2.840.113549.1.9.16.3.18"
CBC256, CBC128, DES3 = "2.16.840.1.101.3.4.1.42", "2.16.840.1.101.3.4.1.2", "1.2.840.113549.3.7"
OAEP, RSA = "1.2.840.113549.1.1.7", "1.2.840.113549.1.1.1"


def test_preference_names_known_ciphers_and_matches_our_advertisement() -> None:
    assert set(CIPHER_PREFERENCE) == set(CONTENT_CIPHERS)
    assert tuple(CIPHER_OIDS) == CAPABILITY_OIDS[:5]
    assert tuple(CIPHER_OIDS.values()) == CIPHER_PREFERENCE


def test_only_cbc_advertised_gets_cbc() -> None:
    assert choose_cipher([(CBC128, CBC256, RSA)]) == "aes256-cbc"


def test_unknown_capabilities_get_aes256_gcm() -> None:
    assert choose_cipher([None]) == "aes256-gcm"
    assert choose_cipher([]) == "aes256-gcm"


def test_strongest_common_cipher_across_recipients() -> None:
    assert choose_cipher([(GCM256, GCM128, CHACHA), (GCM128, CHACHA, CBC256)]) == "aes128-gcm"


def test_order_of_advertisement_does_not_beat_our_preference() -> None:
    assert choose_cipher([(CBC256, CHACHA, GCM128)]) == "aes128-gcm"


def test_chacha_before_cbc() -> None:
    assert choose_cipher([(CBC256, CHACHA)]) == "chacha20-poly1305"


def test_unknown_recipient_does_not_constrain_known_one() -> None:
    assert choose_cipher([None, (CBC128,)]) == "aes128-cbc"


def test_advertisement_below_floor_is_ignored() -> None:
    assert choose_cipher([(CBC128,)], floor="aes256-cbc") == "aes256-gcm"
    assert choose_cipher([(DES3,)]) == "aes256-gcm"


def test_never_below_floor() -> None:
    assert choose_cipher([(CBC128, CBC256)], floor="aes256-cbc") == "aes256-cbc"


def test_no_common_cipher_raises() -> None:
    with pytest.raises(RecipientError, match="separate messages"):
        choose_cipher([(GCM256,), (CBC128,)])


def test_unknown_floor_is_refused() -> None:
    with pytest.raises(UsageError):
        choose_cipher([None], floor="des")


def test_oaep_only_when_advertised() -> None:
    assert choose_key_transport((GCM256, OAEP, RSA)) == "oaep"
    assert choose_key_transport((GCM256, RSA)) == "pkcs1v15"
    assert choose_key_transport(None) == "pkcs1v15"


def test_oaep_for_all_needs_every_recipient() -> None:
    assert choose_key_transport_for_all([(OAEP,), (OAEP, RSA)]) == "oaep"
    assert choose_key_transport_for_all([(OAEP,), None]) == "pkcs1v15"
    assert choose_key_transport_for_all([]) == "pkcs1v15"

"""One choice of content cipher and key transport for `mailseal encrypt` and the gateway
(``store.capabilities.choose_algorithms``)."""

from __future__ import annotations

import pytest

from mailseal.cms.algorithms import DEFAULT_CIPHER, OID_RSAES_OAEP
from mailseal.errors import RecipientError
from mailseal.store.capabilities import CIPHER_OIDS, choose_algorithms

OID = {name: oid for oid, name in CIPHER_OIDS.items()}


def test_nobody_advertised_gives_the_default_and_pkcs1v15() -> None:
    assert choose_algorithms([None, None]) == (DEFAULT_CIPHER, "pkcs1v15")
    assert choose_algorithms([None], default="aes128-cbc") == ("aes128-cbc", "pkcs1v15")


def test_advertisers_narrow_the_cipher_and_a_silent_recipient_keeps_pkcs1v15() -> None:
    cbc_only = (OID["aes256-cbc"], OID["aes128-cbc"], OID_RSAES_OAEP)
    assert choose_algorithms([cbc_only, None]) == ("aes256-cbc", "pkcs1v15")
    assert choose_algorithms([cbc_only, cbc_only]) == ("aes256-cbc", "oaep")


def test_the_floor_ignores_weaker_advertisements() -> None:
    weak = (OID["aes128-cbc"],)
    assert choose_algorithms([weak], floor="aes256-cbc")[0] in ("aes256-gcm", "aes256-cbc")


def test_no_common_cipher_is_refused() -> None:
    with pytest.raises(RecipientError):
        choose_algorithms([(OID["aes256-gcm"],), (OID["aes128-cbc"],)])

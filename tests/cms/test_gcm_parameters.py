"""RFC 5084 GCMParameters are read from the DER without asn1crypto on the decryption path: the same answers as the
full parse, and malformed parameters are the one opaque DecryptionError."""

from __future__ import annotations

import pytest
from asn1crypto import algos

from mailseal.cms import der
from mailseal.cms.content import _gcm_parameters, algorithm_name
from mailseal.errors import DecryptionError

AES256_GCM = der.oid("2.16.840.1.101.3.4.1.46")
NONCE = bytes(range(12))


def alg(params: bytes, oid: bytes = AES256_GCM) -> algos.EncryptionAlgorithm:
    return algos.EncryptionAlgorithm.load(der.seq(oid, params))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (der.seq(der.octet_string(NONCE)), (NONCE, 12)),  # aes-ICVlen DEFAULT 12, omitted in DER
        (der.seq(der.octet_string(NONCE), der.integer(16)), (NONCE, 16)),
        (der.seq(der.octet_string(NONCE), der.integer(12)), (NONCE, 12)),
    ],
)
def test_gcm_parameters_match_asn1crypto(params: bytes, expected: tuple[bytes, int]) -> None:
    a = alg(params)
    assert _gcm_parameters(a) == expected
    full = algos.EncryptionAlgorithm.load(a.dump())["parameters"]
    assert (full["aes_nonce"].native, full["aes_icvlen"].native) == expected
    assert algorithm_name(a) == "aes256_gcm" == a["algorithm"].native


@pytest.mark.parametrize(
    "params",
    [
        der.seq(),
        der.seq(der.integer(16)),
        der.seq(der.octet_string(NONCE), der.octet_string(b"\x10")),
        der.seq(der.octet_string(NONCE), der.integer(16), der.integer(1)),
        der.seq(der.octet_string(NONCE), der.integer(1 << 24)),
    ],
)
def test_malformed_gcm_parameters_are_a_decryption_error(params: bytes) -> None:
    with pytest.raises(DecryptionError):
        _gcm_parameters(alg(params))

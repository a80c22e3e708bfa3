"""Hostile SignedData: every malformed or tampered input ends as a failed signer check or a typed MailsealError,
never as another exception (issue 14: the verifier's exception handlers are narrow, so this is what proves them)."""

from __future__ import annotations

import random

import pytest

import mailseal
from mailseal.cms import check_signed_data, der, sign_data
from tests.core.helpers import ident
from tests.support.testpki import TestPKI

CONTENT = b"Hello Bob,\r\nthis is a test.\r\n"
OID_RSASSA_PSS = der.oid("1.2.840.113549.1.1.10")


def _with_signature_algorithm(signature: bytes, algorithm: bytes) -> bytes:
    """A DER SignedData whose (only) SignerInfo names another signatureAlgorithm; nothing else changes."""
    content_type, explicit = der.children(signature)
    signed_data = der.children(der.children(explicit)[0])
    info = der.children(der.children(signed_data[-1])[0])
    position = next(i for i, part in enumerate(info) if i > 3 and part[:1] == b"\x30")
    info[position] = algorithm
    signed_data[-1] = der.tlv(0x31, der.seq(*info))
    return der.seq(content_type, der.tlv(0xA0, der.seq(*signed_data)))


@pytest.mark.parametrize(
    ("parameters", "failure"),
    [
        (der.octet_string(b"junk"), "the signature cannot be checked: Error parsing"),  # asn1crypto: ValueError
        (b"", "the signature cannot be checked: 'Void' object is not subscriptable"),  # asn1crypto: TypeError
        (der.seq(der.tlv(0xA2, der.integer(-5))), "the signature cannot be checked: salt_length must be zero"),
        (der.seq(der.tlv(0xA2, der.integer(2**70))), "the signature cannot be checked: Python int too large"),
    ],
    ids=["octet-string", "absent", "negative-salt", "huge-salt"],
)
def test_hostile_pss_parameters_are_a_failed_check(pki: TestPKI, parameters: bytes, failure: str) -> None:
    signature = sign_data(CONTENT, ident(pki.user("alice", "rsa2048")), pss=True, detached=True)
    assert check_signed_data(signature, CONTENT).signers[0].intact  # the untouched signature verifies
    hostile = _with_signature_algorithm(signature, der.seq(OID_RSASSA_PSS, parameters))
    check = check_signed_data(hostile, CONTENT).signers[0]
    assert not check.intact
    assert check.failure is not None and check.failure.startswith(failure)
    assert check.certificate is not None  # the signer was found: only the maths could not be done


def _mutations(data: bytes, count: int, seed: str) -> list[bytes]:
    """Bit flips, byte changes, cuts and insertions; half of them in the last 40% (where the SignerInfo is)."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        b = bytearray(data)
        for _ in range(1 + k % 3):
            pos = rng.randrange(int(len(b) * 0.6) if k % 2 else 0, len(b))
            kind = rng.randrange(4)
            if kind == 0:
                b[pos] ^= 1 << rng.randrange(8)
            elif kind == 1:
                b[pos] = rng.randrange(256)
            elif kind == 2:
                del b[pos : pos + rng.randrange(1, 8)]
            else:
                b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
        out.append(bytes(b))
    return out


@pytest.mark.parametrize(("key_type", "pss"), [("rsa2048", False), ("rsa2048", True), ("ec-p256", False),
                                               ("ed25519", False)])
def test_tampered_signed_data_never_raises_an_untyped_error(pki: TestPKI, key_type: str, pss: bool) -> None:
    signature = sign_data(CONTENT, ident(pki.user("alice", key_type)), pss=pss, detached=False)
    outcomes = {"failed": 0, "typed error": 0, "intact": 0}
    for hostile in _mutations(signature, 300, f"{key_type}-{pss}"):
        try:
            checks = check_signed_data(hostile).signers
        except mailseal.MailsealError:
            outcomes["typed error"] += 1
            continue
        for check in checks:
            assert check.intact or check.failure, "a signer that is not intact says why"
            outcomes["intact" if check.intact else "failed"] += 1
    # Both ways of refusing are exercised; a few mutations touch only bytes no check covers (unsigned fields).
    assert outcomes["failed"] > 30 and outcomes["typed error"] > 30

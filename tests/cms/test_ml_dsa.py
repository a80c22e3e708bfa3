"""ML-DSA SignerInfo (RFC 9882): signing and verifying through the cms layer and the message API."""

from __future__ import annotations

import pytest

import mailseal
from mailseal.cms import check_signed_data, der, sign_data
from mailseal.cms.algorithms import DIGEST_OIDS, ML_DSA_OIDS
from mailseal.cms.verification import RawSignerInfo, _algorithm_protection_problem
from mailseal.mime import SignerStatus
from tests.support.messages import MESSAGE, ident
from tests.support.testpki import TestPKI

ML_DSA = ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87"]
CONTENT = b"Content-Type: text/plain\r\n\r\nsigned for the long run\r\n"


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
@pytest.mark.parametrize("key_type", ML_DSA)
def test_ml_dsa_signature_checks(pki: TestPKI, key_type: str, detached: bool) -> None:
    user = pki.user(f"dsa-{key_type}", key_type)
    signed = sign_data(CONTENT, ident(user), detached=detached)
    check = check_signed_data(signed, CONTENT if detached else None)
    (signer,) = check.signers
    assert signer.intact, signer.failure
    # RFC 9882 §3.3: SHA-512 for the message digest, whatever digest was asked for; pure ML-DSA, no parameters.
    assert (signer.digest_algorithm, signer.signature_algorithm) == ("sha512", key_type.replace("-", "_"))
    assert der.seq(der.oid(ML_DSA_OIDS[key_type])) in signed
    assert der.seq(der.oid(DIGEST_OIDS["sha512"])) in signed


@pytest.mark.parametrize("key_type", ML_DSA)
def test_ml_dsa_message_round_trip_is_valid(pki: TestPKI, key_type: str) -> None:
    user = pki.user("alice", key_type)
    signed = mailseal.sign(MESSAGE, ident(user))
    assert b'micalg="sha-512"' in signed or b"micalg=sha-512" in signed
    report = mailseal.verify(signed, trust=mailseal.TrustStore.from_files([pki.root_path]))
    assert report.status == SignerStatus.VALID, report.to_dict()
    assert report.signers[0].signature_algorithm == key_type.replace("-", "_")


def test_ml_dsa_altered_content_is_invalid(pki: TestPKI) -> None:
    user = pki.user("alice", "ml-dsa-65")
    signed = mailseal.sign(MESSAGE, ident(user))
    tampered = signed.replace(b"this is a test.", b"this is a fest.")
    report = mailseal.verify(tampered, trust=mailseal.TrustStore.from_files([pki.root_path]))
    assert report.status == SignerStatus.INVALID_SIGNATURE


def test_ml_dsa_flipped_signature_is_invalid(pki: TestPKI) -> None:
    user = pki.user("dsa-flip", "ml-dsa-44")
    signed = sign_data(CONTENT, ident(user))
    flipped = signed[:-40] + bytes([signed[-40] ^ 1]) + signed[-39:]
    (signer,) = check_signed_data(flipped, CONTENT).signers
    assert not signer.intact and not signer.unsupported
    assert "does not match the signer's key" in (signer.failure or "")


def test_ml_dsa_signature_algorithm_must_fit_the_key(pki: TestPKI) -> None:
    """An ML-DSA-65 key's signature relabelled as ML-DSA-87 is refused, not verified under another set."""
    user = pki.user("dsa-relabel", "ml-dsa-65")
    signed = sign_data(CONTENT, ident(user))
    relabelled = signed.replace(der.oid(ML_DSA_OIDS["ml-dsa-65"]), der.oid(ML_DSA_OIDS["ml-dsa-87"]))
    (signer,) = check_signed_data(relabelled, CONTENT).signers
    assert not signer.intact


def test_signed_message_names_ml_dsa_in_its_capabilities(pki: TestPKI) -> None:
    user = pki.user("dsa-caps", "ml-dsa-44")
    (signer,) = check_signed_data(sign_data(CONTENT, ident(user)), CONTENT).signers
    assert ML_DSA_OIDS["ml-dsa-44"] in signer.capabilities
    assert "2.16.840.1.101.3.4.4.2" in signer.capabilities  # ML-KEM-768


def _signer_info(digest: str, signature: str) -> RawSignerInfo:
    return RawSignerInfo(
        sid=b"", digest_algorithm=der.seq(der.oid(DIGEST_OIDS[digest])), digest_name=digest, signed_attrs=None,
        signature_algorithm=der.seq(der.oid(ML_DSA_OIDS[signature])), signature_name=signature, signature=b"",
        unsigned_attrs=None,
    )


def test_cms_algorithm_protection_must_name_the_signer_info_algorithms() -> None:
    """RFC 6211: a protection attribute naming SHA-256 while the SignerInfo says SHA-512 is a substitution."""
    protection = der.seq(der.seq(der.oid(DIGEST_OIDS["sha512"])), der.tlv(0xA1, der.oid(ML_DSA_OIDS["ml-dsa-44"])))
    assert _algorithm_protection_problem(protection, _signer_info("sha512", "ml-dsa-44")) is None
    assert "digest" in (_algorithm_protection_problem(protection, _signer_info("sha256", "ml-dsa-44")) or "")
    assert "signature" in (_algorithm_protection_problem(protection, _signer_info("sha512", "ml-dsa-65")) or "")

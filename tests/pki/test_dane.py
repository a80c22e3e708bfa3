"""TLSA matching (pki/dane.py, RFC 7672 §3): DANE-EE ignores names and dates, DANE-TA checks the chain, the
dates and the name; PKIX usages and unknown parameters are unusable for SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mailseal.pki.dane import DANE_EE, DANE_TA, Tlsa, association, match_chain, name_matches
from tests.support.servercerts import ServerCert, server_cert
from tests.support.testpki import TestPKI


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> ServerCert:
    return server_cert(pki, tmp_path, ["mx1.dane.test"])


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("matching_type", [0, 1, 2])
def test_dane_ee_matches_each_selector_and_matching_type(server: ServerCert, selector: int,
                                                         matching_type: int) -> None:
    record = Tlsa(DANE_EE, selector, matching_type, association(server.cert, selector, matching_type))
    assert match_chain([record], server.chain_der, ["mx1.dane.test"]) is None
    wrong = Tlsa(DANE_EE, selector, matching_type, bytes(len(record.data)))
    assert match_chain([wrong], server.chain_der, ["mx1.dane.test"]) is not None


def test_spki_selector_hashes_the_subject_public_key_info(server: ServerCert) -> None:
    spki = server.cert.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    assert association(server.cert, 1, 0) == spki


def test_dane_ee_ignores_the_name_and_the_dates(pki: TestPKI, tmp_path: Path) -> None:
    expired = server_cert(pki, tmp_path, ["elsewhere.example"], issuer="self", days=(-30, -1))
    record = Tlsa(DANE_EE, 1, 1, association(expired.cert, 1, 1))
    assert match_chain([record], expired.chain_der, ["mx1.dane.test"]) is None


def test_dane_ta_matches_the_intermediate_and_checks_the_name(server: ServerCert, pki: TestPKI) -> None:
    record = Tlsa(DANE_TA, 0, 1, association(pki.intermediate_cert, 0, 1))
    assert match_chain([record], server.chain_der, ["mx1.dane.test", "dane.test"]) is None
    problem = match_chain([record], server.chain_der, ["mx2.dane.test"])
    assert problem is not None and "checks the name" in problem


def test_dane_ta_checks_the_dates(pki: TestPKI, tmp_path: Path) -> None:
    expired = server_cert(pki, tmp_path, ["mx1.dane.test"], days=(-30, -1))
    record = Tlsa(DANE_TA, 1, 1, association(pki.intermediate_cert, 1, 1))
    problem = match_chain([record], expired.chain_der, ["mx1.dane.test"])
    assert problem is not None and "validity dates" in problem


def test_dane_ta_refuses_a_leaf_the_anchor_did_not_sign(pki: TestPKI, tmp_path: Path) -> None:
    # The attacker sends the real intermediate after a self-signed leaf: the anchor matches, the signature not.
    forged = server_cert(pki, tmp_path, ["mx1.dane.test"], issuer="self")
    chain = [*forged.chain_der, pki.intermediate_cert.public_bytes(serialization.Encoding.DER)]
    record = Tlsa(DANE_TA, 0, 1, association(pki.intermediate_cert, 0, 1))
    problem = match_chain([record], chain, ["mx1.dane.test"])
    assert problem is not None and "not issued by the trust anchor" in problem


def test_dane_ta_not_in_the_chain_does_not_match(pki: TestPKI, server: ServerCert) -> None:
    record = Tlsa(DANE_TA, 0, 1, association(pki.root_cert, 0, 1))  # the root is not sent (RFC 7672 §3.1.2)
    assert match_chain([record], server.chain_der, ["mx1.dane.test"]) is not None


@pytest.mark.parametrize("usage, selector, matching_type", [(0, 0, 1), (1, 1, 1), (3, 2, 1), (3, 1, 3), (4, 1, 1)])
def test_pkix_usages_and_unknown_parameters_are_unusable(server: ServerCert, usage: int, selector: int,
                                                         matching_type: int) -> None:
    data = association(server.cert, selector if selector < 2 else 1, matching_type if matching_type < 3 else 1)
    record = Tlsa(usage, selector, matching_type, data)
    assert not record.usable
    problem = match_chain([record], server.chain_der, ["mx1.dane.test"])
    assert problem is not None and "no usable TLSA record" in problem


def test_garbage_from_the_server_is_a_reason_not_an_exception() -> None:
    record = Tlsa(DANE_EE, 1, 1, bytes(32))
    assert match_chain([record], [b"\x30\x03\x02\x01\x00"], ["mx"]) == "the server's certificate could not be parsed"
    assert match_chain([record], [], ["mx"]) == "the server sent no certificate"


@pytest.mark.parametrize("presented, reference, expected", [
    ("mx1.dane.test", "MX1.dane.test.", True), ("*.dane.test", "mx1.dane.test", True),
    ("*.dane.test", "a.mx1.dane.test", False), ("*.dane.test", "dane.test", False), ("mx2.dane.test", "mx1.dane.test", False)])
def test_name_matching(presented: str, reference: str, expected: bool) -> None:
    assert name_matches(presented, reference) is expected

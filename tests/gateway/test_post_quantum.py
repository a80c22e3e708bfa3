"""Post-quantum mail through the gateway (docs/pq.md): an outbound message to a recipient with an ML-KEM
certificate opened by that recipient, the [policy.smime] post_quantum modes, an inbound ML-DSA signature stamped."""

from __future__ import annotations

import email.policy
import smtplib

import pytest

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.errors import MailsealError
from mailseal.pki.truststore import TrustStore
from mailseal.store import Directory
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, message
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import User

PARTNER = "pat@partner.example"


def _identity(user: User) -> Identity:
    return Identity(user.key, user.cert, tuple(user.chain))  # type: ignore[arg-type]


def _pat(org: Org) -> tuple[User, User]:
    """pat@partner.example with a classical (RSA) and an ML-KEM-768 encryption certificate."""
    return (org.pki.user("gw-pat-rsa", email=PARTNER),
            org.pki.user("gw-pat-kem", "ml-kem-768", email=PARTNER))


def _send(start_gateway: StartGateway, sink: SmtpSink, org: Org, mode: str | None, certs: list[User]) -> bytes:
    gw = start_gateway({"policy": {"smime": {"post_quantum": mode}}} if mode else None)
    for user in certs:
        Directory(gw.store).add(user.cert, "imported")
    msg = message("alice@example.org", [PARTNER], body="Sealed for the long run.\n")
    assert gw.send(msg, "alice@example.org", [PARTNER]) == {}
    [got] = sink.wait_for(1)
    assert b"Sealed for the long run" not in got.data
    return got.data


@pytest.mark.parametrize("mode", [None, "prefer_pq", "require_pq"])
def test_outbound_ml_kem_recipient_opens_it(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                            mode: str | None) -> None:
    rsa_cert, kem = _pat(org)
    data = _send(start_gateway, sink, org, mode, [rsa_cert, kem])
    opened = api.open(data, [_identity(kem)], trust=TrustStore(anchors=(org.pki.root_cert,)))
    assert opened.report.status == "valid" and b"Sealed for the long run" in opened.message
    assert opened.report.layers[0].key_algorithm == "ml_kem_768"
    # hybrid (the default) also lets the RSA key open it; prefer_pq and require_pq leave RSA out.
    if mode is None:
        assert b"Sealed for the long run" in api.decrypt(data, _identity(rsa_cert))
    else:
        with pytest.raises(MailsealError) as caught:
            api.decrypt(data, _identity(rsa_cert))
        assert caught.value.code == "no-matching-recipient"


def test_require_pq_without_an_ml_kem_certificate_is_no_certificate(start_gateway: StartGateway, sink: SmtpSink,
                                                                    org: Org) -> None:
    gw = start_gateway({"policy": {"smime": {"post_quantum": "require_pq"},
                                   "domains": {"partner.example": {"encrypt": "require"}}}})
    rsa_cert, _kem = _pat(org)
    Directory(gw.store).add(rsa_cert.cert, "imported")
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("alice@example.org", [PARTNER]), "alice@example.org", [PARTNER])
    assert info.value.smtp_code == 550
    assert sink.messages == []


def test_inbound_ml_dsa_signature_stamped_pass(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signer = org.pki.user("gw-quinn", "ml-dsa-65", email="quinn@partner.example")
    original = message("quinn@partner.example", ["alice@example.org"], "pq", "Signed with ML-DSA.\n")
    signed = api.sign(original.as_bytes(policy=email.policy.SMTP), _identity(signer))
    assert gw.send(signed, "quinn@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "smime=pass" in stamp and "body.smime-identifier=quinn@partner.example" in stamp


def test_outbound_signed_with_an_ml_dsa_key_from_the_store(start_gateway: StartGateway, sink: SmtpSink,
                                                           org: Org) -> None:
    """A sender whose signing identity in the key store is ML-DSA-65: the gateway signs with it (SHA-512)."""
    gw = start_gateway({"policy": {"encrypt": "never"}})
    sender = org.pki.user("gw-sam", "ml-dsa-65", email="sam@example.org")
    gw.keys.add(_identity(sender))
    msg = message("sam@example.org", ["carol@partner.example"], body="Signed after the quantum computer.\n")
    assert gw.send(msg, "sam@example.org", ["carol@partner.example"]) == {}
    [got] = sink.wait_for(1)
    assert b"micalg=sha-512" in got.data or b'micalg="sha-512"' in got.data
    report = api.verify(got.data, trust=TrustStore(anchors=(org.pki.root_cert,)))
    assert report.status == "valid" and report.signers[0].signature_algorithm == "ml_dsa_65"

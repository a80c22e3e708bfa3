"""Inbound delivery of a decrypted (and of a signature-stripped) message is a complete message: one MIME-Version
(RFC 2045 §4), the outer fields once, the inner entity's Content-* fields (issue 12, point 1)."""

from __future__ import annotations

import pytest

from mailseal import api
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.opened import KINDS, WRAPPINGS, assert_complete, build, identity
from tests.support.smtp_sink import SmtpSink

SENDER, RECIPIENT = "erin@partner.example", "alice@example.org"


@pytest.mark.parametrize("kind", list(KINDS))
def test_inbound_decrypted_message_is_complete(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                               kind: str) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    original = build(kind, SENDER, RECIPIENT)
    assert gw.send(WRAPPINGS["encrypted"](original, org.erin, org.alice), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    assert "decrypt-failed" not in got.data.decode("utf-8", "replace")
    assert_complete(got.data, KINDS[kind], original)


@pytest.mark.parametrize("wrapping", ["opaque-signed-in-encrypted", "clear-signed-in-encrypted"])
def test_inbound_signed_in_encrypted_stripped_is_complete(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                          wrapping: str) -> None:
    """Decrypted, verified, then its signature removed (strip_signatures): both steps build the message."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"strip_signatures": True}})
    original = build("mixed", SENDER, RECIPIENT)
    assert gw.send(WRAPPINGS[wrapping](original, org.erin, org.alice), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    assert "smime=pass" in got.header("Authentication-Results")[0]
    assert_complete(got.data, "multipart/mixed", original)


@pytest.mark.parametrize("wrapping", ["opaque-signed-in-encrypted", "clear-signed-in-encrypted"])
def test_inbound_signed_in_encrypted_decrypted_keeps_one_mime_version(start_gateway: StartGateway,
                                                                      sink: SmtpSink, org: Org,
                                                                      wrapping: str) -> None:
    """Decrypted only: the signed layer is delivered as a complete message that alice's client can verify."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    original = build("html", SENDER, RECIPIENT)
    assert gw.send(WRAPPINGS[wrapping](original, org.erin, org.alice), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    signed_type = "application/pkcs7-mime" if wrapping.startswith("opaque") else "multipart/signed"
    msg = assert_complete(got.data, signed_type, original)
    assert msg.get_param("smime-type") in (None, "signed-data")
    assert_complete(api.open(got.data).message, "text/html", original)


@pytest.mark.parametrize("opaque", [True, False], ids=["opaque", "clear"])
def test_inbound_signed_stripped_is_complete(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                             opaque: bool) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"strip_signatures": True}})
    original = build("mixed", SENDER, RECIPIENT)
    assert gw.send(api.sign(original, identity(org.erin), opaque=opaque), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    assert b"pkcs7" not in got.data
    assert_complete(got.data, "multipart/mixed", original)

"""The gateway still signs once signing checks the signer against From (issue 12, point 6): its policy signs
only for a single From that is the envelope sender with a key filed under it, which is the library's rule."""

from __future__ import annotations

from mailseal import api
from mailseal.pki.truststore import TrustStore
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, message
from tests.support.smtp_sink import SmtpSink


def test_outbound_from_in_another_domain_case_is_signed_and_valid(start_gateway: StartGateway, sink: SmtpSink,
                                                                  org: Org) -> None:
    gw = start_gateway()
    msg = message("Alice <alice@EXAMPLE.org>", ["dave@partner.example"], "figures")
    assert gw.send(msg, "alice@example.org", ["dave@partner.example"]) == {}
    [got] = sink.wait_for(1)
    report = api.verify(got.data, trust=TrustStore(anchors=(org.pki.root_cert,)))
    assert report.signed and report.status == "valid"
    assert report.signers[0].emails == ["alice@example.org"]

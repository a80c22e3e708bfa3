"""Attack class signature stripping: remove the signature of a sender who always signs, and change the content
(Johnny You Are Fired §7 and the "downgrade to unsigned" of Schwenk et al.). Nothing in the stripped message is
wrong; only history says it should have been signed.

The gateway remembers who has signed (the certificates it harvested from their valid signatures): an unsigned
message from such a sender is delivered with a note in its stamp saying that mail from them was signed before. A
naive gateway stamps it "smime=none" like any unsigned mail, and the reader, seeing no warning, trusts it.
"""

from __future__ import annotations

import pytest

from mailseal import api
from mailseal.mime import Entity
from mailseal.mime.signed import parse_multipart_signed
from mailseal.store.harvesting import signed_before
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.smtp_sink import SmtpSink

ERIN = "erin@partner.example"


def _mail(body: bytes) -> bytes:
    return (f"From: Erin <{ERIN}>\r\nTo: alice@example.org\r\nSubject: invoice\r\n"
            "Message-ID: <s@partner.example>\r\n\r\n").encode() + body


def _stripped_detached(signed: bytes) -> bytes:
    """multipart/signed reduced to its first part, the outer fields kept, the content changed."""
    entity = Entity.parse(signed)
    content = parse_multipart_signed(entity).content.read()
    outer = b"".join(ln + b"\r\n" for ln in entity.outer_lines())
    return outer + b"MIME-Version: 1.0\r\n" + content.replace(b"DE11", b"DE99")


def _stripped_opaque(signed: bytes) -> bytes:
    """application/pkcs7-mime signed-data replaced by its encapsulated content."""
    opened = api.open(signed)
    return opened.message.replace(b"DE11", b"DE99")


STRIPPERS = {"detached": (False, _stripped_detached), "opaque": (True, _stripped_opaque)}


@pytest.mark.parametrize("form", list(STRIPPERS))
def test_unsigned_mail_from_a_sender_who_signs_is_flagged(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                          form: str) -> None:
    """Naive gateway: "smime=none" and nothing else for the stripped copy."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    opaque, strip = STRIPPERS[form]
    signed = api.sign(_mail(b"Pay to DE11 0000.\r\n"), org.identity(org.erin), opaque=opaque)
    assert gw.send(signed, ERIN, ["alice@example.org"]) == {}
    [first] = sink.wait_for(1)
    assert "smime=pass" in first.header("Authentication-Results")[0]
    assert signed_before(gw.store, ERIN) is not None
    stripped = strip(signed)
    assert b"pkcs7" not in stripped and b"DE99" in stripped
    assert gw.send(stripped, ERIN, ["alice@example.org"]) == {}
    second = sink.wait_for(2)[1]
    [stamp] = second.header("Authentication-Results")
    assert "smime=none" in stamp
    assert f"mail from {ERIN} was signed before" in " ".join(stamp.split())
    assert "may have been stripped" in " ".join(stamp.split())


def test_unsigned_mail_from_a_sender_never_seen_signing_is_not_flagged(start_gateway: StartGateway,
                                                                       sink: SmtpSink, org: Org) -> None:
    """Control: no note for a sender whose mail never came signed."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    assert signed_before(gw.store, ERIN) is None
    assert gw.send(_mail(b"Hello.\r\n"), ERIN, ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert "stripped" not in " ".join(got.header("Authentication-Results"))


def test_a_failed_signature_does_not_count_as_signing(start_gateway: StartGateway, sink: SmtpSink,
                                                      org: Org) -> None:
    """Only a valid signature makes a sender one who signs: a forged, broken signature from "erin" teaches
    nothing (else anyone could make erin's real unsigned mail look stripped). Naive: counts any signature it saw."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signed = api.sign(_mail(b"Pay to DE11 0000.\r\n"), org.identity(org.erin))
    assert gw.send(signed.replace(b"DE11", b"DE99"), ERIN, ["alice@example.org"]) == {}
    sink.wait_for(1)
    assert signed_before(gw.store, ERIN) is None

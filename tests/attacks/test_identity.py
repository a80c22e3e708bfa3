"""Attack class identity (Johnny You Are Fired §5): eve, holding a perfectly valid certificate of her own, makes a
reader believe boss signed. mailseal holds the signer to the From address, reports who really signed, and says
what in the fields shown could mislead. A naive verifier answers "valid signature" and shows the From it finds.
"""

from __future__ import annotations

import pytest

from tests.attacks.support import alice, boss, eve, mail, sign, verify
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_from_not_in_the_certificate_is_address_mismatch(pki: TestPKI, opaque: bool) -> None:
    """From: boss, signed by eve. Naive: "valid signature" under From: boss@corp.example."""
    signed = sign(mail("Boss <boss@corp.example>"), eve(pki), opaque=opaque, allow_from_mismatch=True)
    report = verify(signed, pki)
    assert report.status == "address-mismatch"
    assert report.signers[0].emails == ["eve@evil.example"]
    assert any("boss@corp.example is not an address of the signer" in r for r in report.signers[0].reasons)


def test_display_name_that_looks_like_an_address_is_eves_and_flagged(pki: TestPKI) -> None:
    """From: "boss@corp.example" <eve@evil.example>, signed by eve. Naive: shows "boss@corp.example" (the display
    name, as most clients do) beside "valid signature"."""
    signed = sign(mail('"boss@corp.example" <eve@evil.example>'), eve(pki))
    report = verify(signed, pki)
    assert report.status == "valid" and report.signers[0].emails == ["eve@evil.example"]
    flags = report.headers.flags if report.headers else ()
    assert len(flags) == 1 and "boss@corp.example" in flags[0] and "eve@evil.example" in flags[0]
    assert flags[0] in report.to_dict()["warnings"]


def test_display_name_that_is_the_address_itself_is_not_flagged(pki: TestPKI) -> None:
    """Control: a display name that is the sender's own address is no trick."""
    report = verify(sign(mail('"alice@example.org" <alice@example.org>'), alice(pki)), pki)
    assert report.status == "valid" and report.headers is not None and report.headers.flags == ()


def test_display_name_address_in_an_encoded_word_is_flagged(pki: TestPKI) -> None:
    """The same trick hidden in RFC 2047: =?utf-8?q?boss=40corp=2Eexample?= decodes to boss@corp.example. Naive:
    checks the raw field and misses it."""
    signed = sign(mail("=?utf-8?q?boss=40corp=2Eexample?= <eve@evil.example>"), eve(pki))
    report = verify(signed, pki)
    assert report.headers is not None and any("boss@corp.example" in f for f in report.headers.flags)


def test_two_from_fields_cannot_be_matched(pki: TestPKI) -> None:
    """From: alice, and a second From: boss added outside. Naive: matches the first, a client shows the last:
    "valid" under From: boss."""
    signed = sign(mail("alice@example.org"), alice(pki))
    doubled = signed.replace(b"From: alice@example.org\r\n", b"From: alice@example.org\r\nFrom: boss@corp.example\r\n")
    report = verify(doubled, pki)
    assert report.status == "address-mismatch"
    assert any("more than one From" in r for r in report.signers[0].reasons)


def test_two_addresses_in_one_from_cannot_be_matched(pki: TestPKI) -> None:
    """From: alice, boss in one field, signed by alice. Naive: matches the first address, "valid" for both."""
    signed = sign(mail("alice@example.org, boss@corp.example"), alice(pki), allow_from_mismatch=True)
    assert verify(signed, pki).status == "address-mismatch"


def test_sender_signs_for_another_from_is_address_mismatch(pki: TestPKI) -> None:
    """From: boss, Sender: eve, signed by eve (RFC 8550 §3 lets the Sender match). A client shows "boss"; mailseal
    holds the signer to the From. Naive: "valid, signed by the sender"."""
    signed = sign(mail("boss@corp.example", extra=b"Sender: eve@evil.example\r\n"), eve(pki), allow_from_mismatch=True)
    report = verify(signed, pki)
    assert report.status == "address-mismatch" and report.signers[0].emails == ["eve@evil.example"]
    assert any("Sender (eve@evil.example) is not the From (boss@corp.example)" in w
               for w in report.to_dict()["warnings"])


def test_sender_other_than_from_is_said(pki: TestPKI) -> None:
    """From: eve (who signs), Sender: boss: Outlook shows "boss on behalf of eve". Naive: says nothing of it."""
    signed = sign(mail("eve@evil.example", extra=b"Sender: boss@corp.example\r\n"), eve(pki))
    report = verify(signed, pki)
    assert report.status == "valid"
    assert any("Sender (boss@corp.example) is not the From" in w for w in report.to_dict()["warnings"])


def test_sender_equal_to_from_is_not_said(pki: TestPKI) -> None:
    """Control: a Sender equal to the From (any case) is not worth a word."""
    signed = sign(mail("alice@example.org", extra=b"Sender: Alice <ALICE@example.org>\r\n"), alice(pki))
    assert not any("Sender" in w for w in verify(signed, pki).to_dict()["warnings"])


def test_certificate_of_boss_is_not_needed_for_the_verdict(pki: TestPKI) -> None:
    """Sanity: boss's own signature over the same message is valid; the verdicts above come from eve's identity."""
    assert verify(sign(mail("Boss <boss@corp.example>"), boss(pki)), pki).status == "valid"


def test_gateway_stamp_flags_the_display_name(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                              pki: TestPKI) -> None:
    """Naive gateway: smime=pass, nothing else; the recipient's client shows "boss@corp.example"."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signed = sign(mail('"boss@corp.example" <eve@evil.example>'), eve(pki))
    assert gw.send(signed, "eve@evil.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "body.smime-identifier=eve@evil.example" in stamp
    assert "display name looks like another address" in " ".join(stamp.split())

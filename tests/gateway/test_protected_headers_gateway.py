"""Inbound stamping reads the protected header fields (RFC 9788 §4, issue 17 point 4): the delivered copy shows
the protected From and Subject, the stamp says which header set was used and what was changed outside."""

from __future__ import annotations

from mailseal import api
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.smtp_sink import SmtpSink

SENDER, RECIPIENT = "erin@partner.example", "alice@example.org"


def _mail(subject: str) -> bytes:
    return (f"From: Erin <{SENDER}>\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\nMessage-ID: <hp@partner.example>\r\n"
            "\r\nSee you at noon.\r\n").encode()


def test_signed_message_with_changed_subject_is_delivered_with_the_protected_one(
        start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    """Naive gateway: stamps smime=pass and delivers the outer Subject the attacker wrote."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signed = api.sign(_mail("lunch"), org.identity(org.erin), protect_headers=True)
    tampered = signed.replace(b"Subject: lunch", b"Subject: wire 50k to the new account", 1)
    assert gw.send(tampered, SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "smime=pass" in stamp
    assert "(header fields: protected, hp=clear" in " ".join(stamp.split()) and "changed outside: subject" in stamp
    assert got.header("Subject") == ["lunch"]
    assert [s.intact for s in api.verify(got.data).signers] == [True]  # the field put back breaks nothing


def test_signed_message_without_changes_says_the_protected_set(start_gateway: StartGateway, sink: SmtpSink,
                                                               org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    assert gw.send(api.sign(_mail("lunch"), org.identity(org.erin), protect_headers=True), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "(header fields: protected, hp=clear" in " ".join(stamp.split()) and "changed outside" not in stamp
    assert got.header("Subject") == ["lunch"]


def test_encrypted_message_with_changed_from_outside_is_noted(start_gateway: StartGateway, sink: SmtpSink,
                                                               org: Org) -> None:
    """Signed by erin inside, encrypted to alice; someone rewrote the outer From. The delivered copy shows the
    protected From and the stamp names the change."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signed = api.sign(_mail("lunch"), org.identity(org.erin), protect_headers=True, to_be_encrypted=True)
    sealed = api.encrypt(signed, [org.alice.cert], protect_headers=True)
    forged = sealed.replace(f"From: Erin <{SENDER}>".encode(), b"From: CEO <ceo@example.org>", 1)
    assert forged != sealed
    assert gw.send(forged, SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "changed outside: from" in " ".join(stamp.split())
    assert got.header("From") == [f"Erin <{SENDER}>"]


def test_encrypted_only_message_says_hp_cipher(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    """Encrypted (not signed) with protected fields: the decrypted copy shows the real Subject, the stamp says
    so, and "[...]" outside is no change."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"verify_inbound": True}})
    sealed = api.encrypt(_mail("salaries"), [org.alice.cert], protect_headers=True)
    assert b"Subject: [...]" in sealed
    assert gw.send(sealed, SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "(header fields: protected, hp=cipher)" in " ".join(stamp.split())
    assert got.header("Subject") == ["salaries"]


def test_encrypted_only_message_with_subject_changed_outside(start_gateway: StartGateway, sink: SmtpSink,
                                                            org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"verify_inbound": True}})
    sealed = api.encrypt(_mail("salaries"), [org.alice.cert], protect_headers=True)
    assert gw.send(sealed.replace(b"Subject: [...]", b"Subject: Your account is locked"), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "changed outside: subject" in " ".join(stamp.split())
    assert got.header("Subject") == ["salaries"]


def test_encrypted_message_without_protection_says_outer(start_gateway: StartGateway, sink: SmtpSink,
                                                        org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"verify_inbound": True}})
    assert gw.send(api.encrypt(_mail("plain"), [org.alice.cert]), SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "(header fields: outer)" in " ".join(stamp.split())


def test_encrypted_only_message_is_delivered_without_its_legacy_display(start_gateway: StartGateway,
                                                                        sink: SmtpSink, org: Org) -> None:
    """RFC 9788 §4.5.3: the delivered copy carries the protected Subject in its header, so the text/plain and
    text/html legacy display elements that repeat it are left out (and their mark with them). Naive gateway: the
    reader sees "Subject: salaries" twice, once as the header and once at the top of the body."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"verify_inbound": True}})
    message = (f"From: Erin <{SENDER}>\r\nTo: {RECIPIENT}\r\nSubject: salaries\r\nMessage-ID: <ld@partner.example>\r\n"
               'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
               '--b\r\nContent-Type: text/plain; hp-legacy-display="1"\r\n\r\nSubject: salaries\r\n\r\nSee you.\r\n'
               '--b\r\nContent-Type: text/html; hp-legacy-display="1"\r\n\r\n<html><body>\r\n'
               '<div class="header-protection-legacy-display"><pre>Subject: salaries</pre></div>\r\n'
               "<p>See you.</p></body></html>\r\n--b--\r\n").encode()
    sealed = api.encrypt(message, [org.alice.cert], protect_headers=True)
    assert gw.send(sealed, SENDER, [RECIPIENT]) == {}
    [got] = sink.wait_for(1)
    assert got.header("Subject") == ["salaries"]
    body = got.data.partition(b"\r\n\r\n")[2]
    assert b"Subject: salaries" not in body and b"header-protection-legacy-display" not in body
    assert b"hp-legacy-display" not in body and b"See you.\r\n--b" in body and b"<p>See you.</p>" in body

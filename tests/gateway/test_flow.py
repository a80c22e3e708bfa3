"""End to end over real sockets: outbound sign + encrypt, inbound decrypt + verify + stamp, mixed recipients."""

from __future__ import annotations

import email.policy
import json
import smtplib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.errors import MailsealError
from mailseal.pki.truststore import TrustStore
from mailseal.store import Directory
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, message, to_toml
from tests.support.broken_certs import with_broken_signer_certificate
from tests.support.smtp_sink import SmtpSink, free_port


def test_outbound_signed_and_encrypted_for_carol(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway()
    msg = message("alice@example.org", ["carol@partner.example"], body="The quarterly figures.\n")
    assert gw.send(msg, "alice@example.org", ["carol@partner.example"]) == {}
    [got] = sink.wait_for(1)
    assert got.rcpt_tos == ["carol@partner.example"]
    assert b"application/pkcs7-mime" in got.data and b"The quarterly figures" not in got.data
    carol = Identity(org.carol.key, org.carol.cert, tuple(org.carol.chain))  # type: ignore[arg-type]
    opened = api.open(got.data, [carol], trust=TrustStore(anchors=(org.pki.root_cert,)))
    assert opened.report.encrypted
    assert opened.report.status == "valid"
    assert opened.report.signers[0].emails == ["alice@example.org"]
    assert b"The quarterly figures" in opened.message


def _identity(user: object) -> Identity:
    return Identity(user.key, user.cert, tuple(user.chain))  # type: ignore[attr-defined]


def _trust(org: Org) -> TrustStore:
    return TrustStore(anchors=(org.pki.root_cert,))


def test_inbound_decrypted_verified_and_stamped(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}})  # the client is "the Internet"
    original = message("erin@partner.example", ["alice@example.org"], "contract", "Signed and sealed.\n")
    signed = api.sign(original.as_bytes(policy=email.policy.SMTP), _identity(org.erin))
    sealed = api.encrypt(signed, [org.alice.cert])
    assert not Directory(gw.store).find("erin@partner.example")
    assert gw.send(sealed, "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert b"Signed and sealed." in got.data  # decrypted for alice
    [stamp] = got.header("Authentication-Results")
    assert stamp.startswith("gw.example.org;")
    assert "smime=pass" in stamp and "body.smime-identifier=erin@partner.example" in stamp
    # the signature is kept, so alice's client can check it again
    assert api.verify(got.data, trust=_trust(org)).status == "valid"
    # and erin's certificate was harvested into the directory
    [entry] = Directory(gw.store).find("erin@partner.example")
    assert entry.source == "harvested"


def test_inbound_forged_stamp_and_tag_removed(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []},
                        "policy": {"subject_tag_signed": "[signed]", "subject_tag_failed": "[BAD SIGNATURE]"}})
    forged = (b"Authentication-Results: gw.example.org; smime=pass body.smime-identifier=ceo@example.org\r\n"
              b"Authentication-Results: other.example; spf=pass\r\n"
              b"From: mallory@evil.example\r\nTo: alice@example.org\r\nSubject: [signed] pay this invoice\r\n"
              b"Message-ID: <forged@evil.example>\r\n\r\nPlease pay.\r\n")
    gw.send(forged, "mallory@evil.example", ["alice@example.org"])
    [got] = sink.wait_for(1)
    stamps = got.header("Authentication-Results")
    ours = [s for s in stamps if s.startswith("gw.example.org")]
    assert len(ours) == 1 and "smime=none" in ours[0], stamps
    assert any(s.startswith("other.example") for s in stamps)  # someone else's stamp is not ours to judge
    assert got.header("Subject") == ["pay this invoice"]


def test_inbound_bad_signature_stamped_fail(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"subject_tag_failed": "[BAD SIGNATURE]"}})
    signed = api.sign(message("erin@partner.example", ["alice@example.org"], "x", "Original text.\n")
                      .as_bytes(policy=email.policy.SMTP), _identity(org.erin))
    tampered = signed.replace(b"Original text.", b"Changed text!!")
    gw.send(tampered, "erin@partner.example", ["alice@example.org"])
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "smime=fail" in stamp
    assert got.header("Subject")[0].startswith("[BAD SIGNATURE]")
    assert not Directory(gw.store).find("erin@partner.example")  # nothing harvested from a bad signature


@pytest.mark.parametrize("breakage", ["subject", "key-usage"])
def test_inbound_unparsable_signer_certificate_stamped_not_deferred(start_gateway: StartGateway, sink: SmtpSink,
                                                                    org: Org, breakage: str) -> None:
    """A signer certificate whose fields pyca cannot parse (found by fuzzing): delivered with a stamp saying so,
    never a 4xx, never harvested."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signed = api.sign(message("erin@partner.example", ["alice@example.org"], "x", "Original text.\n")
                      .as_bytes(policy=email.policy.SMTP), _identity(org.erin))
    broken = with_broken_signer_certificate(signed, org.erin.cert.public_bytes(Encoding.DER), breakage)
    assert gw.send(broken, "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert b"Original text." in got.data
    [stamp] = got.header("Authentication-Results")
    assert stamp.startswith("gw.example.org;") and "smime=permerror" in stamp, stamp
    assert "the signer's certificate cannot be parsed" in " ".join(stamp.split()), stamp
    assert not Directory(gw.store).find("erin@partner.example")


def test_mixed_recipients_split_by_treatment(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway()
    rcpts = ["carol@partner.example", "dave@partner.example", "bob@example.org"]
    msg = message("alice@example.org", rcpts, body="For everyone.\n")
    gw.send(msg, "alice@example.org", rcpts)
    copies = sink.wait_for(2)  # one copy encrypted for carol and bob, one signed only for dave
    by_rcpt = {r: c for c in copies for r in c.rcpt_tos}
    assert sorted(by_rcpt) == sorted(rcpts) and len(copies) == 2
    # dave has no certificate: signed only, readable
    dave = by_rcpt["dave@partner.example"]
    assert dave.rcpt_tos == ["dave@partner.example"]
    assert b"For everyone." in dave.data and b"multipart/signed" in dave.data
    assert api.verify(dave.data, trust=_trust(org)).status == "valid"
    # carol and bob can each decrypt their copy
    for user, rcpt in ((org.carol, "carol@partner.example"), (org.bob, "bob@example.org")):
        got = by_rcpt[rcpt]
        assert b"For everyone." not in got.data
        opened = api.open(got.data, [_identity(user)], trust=_trust(org))
        assert b"For everyone." in opened.message and opened.report.status == "valid"


def test_bcc_recipient_gets_own_copy_and_stays_hidden(start_gateway: StartGateway, sink: SmtpSink,
                                                      org: Org) -> None:
    gw = start_gateway()
    msg = message("alice@example.org", ["carol@partner.example"], body="Secret plan.\n", bcc=["bob@example.org"])
    gw.send(msg, "alice@example.org", ["carol@partner.example", "bob@example.org"])
    copies = sink.wait_for(2)
    assert sorted(len(c.rcpt_tos) for c in copies) == [1, 1]
    carol_copy = next(c for c in copies if c.rcpt_tos == ["carol@partner.example"])
    bob_copy = next(c for c in copies if c.rcpt_tos == ["bob@example.org"])
    for copy in copies:
        assert b"Bcc:" not in copy.data and b"bcc:" not in copy.data.lower()
    assert b"bob@example.org" not in carol_copy.data
    # carol's copy is not encrypted for bob: his key finds no RecipientInfo
    with pytest.raises(MailsealError):
        api.decrypt(carol_copy.data, _identity(org.bob))
    assert b"Secret plan." in api.decrypt(bob_copy.data, _identity(org.bob))
    opened = api.open(carol_copy.data, [_identity(org.carol)], trust=_trust(org))
    assert b"bob@example.org" not in opened.message


def test_required_encryption_without_certificate_refused_5xx(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"policy": {"domains": {"partner.example": {"encrypt": "require"}}}})
    msg = message("alice@example.org", ["dave@partner.example"])
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(msg, "alice@example.org", ["dave@partner.example"])
    assert info.value.smtp_code == 550 and b"dave@partner.example" in info.value.smtp_error
    assert sink.messages == []


def test_next_hop_down_gives_4xx_and_delivers_nothing(start_gateway: StartGateway, sink: SmtpSink) -> None:
    from tests.support.smtp_sink import free_port

    gw = start_gateway(next_hop=("127.0.0.1", free_port()))
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("alice@example.org", ["carol@partner.example"]), "alice@example.org",
                ["carol@partner.example"])
    assert info.value.smtp_code == 451
    assert sink.messages == []


def test_signing_needs_the_envelope_sender_to_be_the_from_address(start_gateway: StartGateway, sink: SmtpSink,
                                                                  org: Org) -> None:
    gw = start_gateway()
    # bob's envelope, alice's From: nobody's key signs (no signing oracle)
    gw.send(message("alice@example.org", ["dave@partner.example"]), "bob@example.org", ["dave@partner.example"])
    [got] = sink.wait_for(1)
    assert b"multipart/signed" not in got.data and b"pkcs7" not in got.data


def test_mail_from_untrusted_origin_is_never_signed(start_gateway: StartGateway, sink: SmtpSink) -> None:
    # internal -> internal from an untrusted client (a forged internal sender from the Internet)
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    gw.send(message("alice@example.org", ["bob@example.org"]), "alice@example.org", ["bob@example.org"])
    [got] = sink.wait_for(1)
    assert b"multipart/signed" not in got.data


def test_held_recipient_kept_for_the_admin(start_gateway: StartGateway, sink: SmtpSink, tmp_path: Path) -> None:
    gw = start_gateway({"policy": {"domains": {"partner.example": {"encrypt": "require",
                                                                   "on_missing_certificate": "hold"}}}})
    rcpts = ["dave@partner.example", "bob@example.org"]
    gw.send(message("alice@example.org", rcpts, body="Hold me.\n"), "alice@example.org", rcpts)
    [got] = sink.wait_for(1)
    assert got.rcpt_tos == ["bob@example.org"]  # bob's copy went; dave's is held
    held_dir = gw.gateway.settings.held_dir
    [meta] = held_dir.glob("*.json")
    assert json.loads(meta.read_text())["recipients"] == ["dave@partner.example"]
    assert b"Hold me." in meta.with_suffix(".eml").read_bytes()
    assert oct(held_dir.stat().st_mode & 0o777) == "0o700"


def test_retry_after_partial_failure_does_not_duplicate(start_gateway: StartGateway, org: Org) -> None:
    """The next hop takes the first copy and refuses the second (4xx): the sender retries, and only the copy
    that was not delivered goes out again."""
    from aiosmtpd.controller import Controller

    received: list[list[str]] = []

    class Flaky:
        fail_for = {"dave@partner.example"}

        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            if set(envelope.rcpt_tos) & self.fail_for:
                return "451 4.3.0 try later"
            received.append(list(envelope.rcpt_tos))
            return "250 OK"

    handler = Flaky()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        gw = start_gateway(next_hop=("127.0.0.1", port))
        rcpts = ["carol@partner.example", "dave@partner.example"]
        msg = message("alice@example.org", rcpts).as_bytes(policy=email.policy.SMTP)
        with pytest.raises(smtplib.SMTPDataError) as info:
            gw.send(msg, "alice@example.org", rcpts)
        assert info.value.smtp_code == 451
        assert received == [["carol@partner.example"]]
        handler.fail_for = set()
        assert gw.send(msg, "alice@example.org", rcpts) == {}  # the retry, same bytes
        assert received == [["carol@partner.example"], ["dave@partner.example"]]
    finally:
        controller.stop()


def test_xforward_origin_decides_signing(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """Behind Postfix every client is Postfix: the original client (XFORWARD ADDR) decides whether the
    gateway may sign. Mail that entered Postfix from the Internet is not signed even with an internal From."""
    gw = start_gateway({"gateway": {"signing_networks": ["10.1.0.0/16"]}})
    for origin, signed in (("203.0.113.9", False), ("10.1.2.3", True)):
        data = message("alice@example.org", ["dave@partner.example"]).as_bytes(policy=email.policy.SMTP)
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
            client.ehlo("postfix.example.org")
            assert client.has_extn("xforward")
            assert client.docmd(f"XFORWARD ADDR={origin} NAME=client.example")[0] == 250
            client.sendmail("alice@example.org", ["dave@partner.example"], data)
        [got] = sink.wait_for(1)
        assert (b"multipart/signed" in got.data) is signed, origin
        sink.clear()


def test_forged_stamp_with_internal_from_is_removed_too(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """An Internet client claiming an internal sender: its copy is 'internal', and our stamps still go."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"subject_tag_signed": "[signed]"}})
    forged = (b"Authentication-Results: gw.example.org; smime=pass body.smime-identifier=ceo@example.org\r\n"
              b"From: ceo@example.org\r\nTo: bob@example.org\r\nSubject: [signed] wire the money\r\n"
              b"Message-ID: <forged-2@evil.example>\r\n\r\nNow.\r\n")
    gw.send(forged, "ceo@example.org", ["bob@example.org"])
    [got] = sink.wait_for(1)
    assert not [s for s in got.header("Authentication-Results") if s.startswith("gw.example.org")]
    assert got.header("Subject") == ["wire the money"]


def test_inbound_tags_once_and_truthfully(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []},
                        "policy": {"subject_tag_encrypted": "[enc]", "subject_tag_signed": "[signed]",
                                   "subject_tag_failed": "[BAD]"}})
    signed = api.sign(message("erin@partner.example", ["alice@example.org"], "x", "Hi.\n")
                      .as_bytes(policy=email.policy.SMTP), _identity(org.erin))
    gw.send(api.encrypt(signed, [org.alice.cert]), "erin@partner.example", ["alice@example.org"])
    gw.send(signed.replace(b"Hi.", b"Ho."), "erin@partner.example", ["alice@example.org"])
    good, bad = sink.wait_for(2)
    assert good.header("Subject") == ["[enc] [signed] x"]
    assert bad.header("Subject") == ["[BAD] x"]


def test_held_message_listed_released_and_audited(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                  run_cli: Any, tmp_path: Path) -> None:
    from mailseal.gateway.release import release
    from mailseal.store import events

    settings = {"policy": {"domains": {"partner.example": {"encrypt": "require", "on_missing_certificate": "hold"}}}}
    gw = start_gateway(settings)
    rcpts = ["dave@partner.example", "erin@partner.example"]
    data = message("alice@example.org", rcpts, body="Held twice over.\n").as_bytes(policy=email.policy.SMTP)
    assert gw.send(data, "alice@example.org", rcpts) == {}
    assert gw.send(data, "alice@example.org", rcpts) == {}  # the same message again: held once
    assert sink.messages == []
    # the CLI sees it (it reads held_dir from the same settings)
    config = tmp_path / "gw.toml"
    config.write_text(to_toml(gw.settings_dict))
    listed = run_cli("held", "list", "--json", "--config", config)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert sorted(entry["recipients"]) == rcpts and "certificate" in " ".join(entry["reasons"].values())
    shown = run_cli("held", "show", entry["id"][:10], "--config", config)
    assert b"Subject: hello" in shown.stdout and b"Held twice over" not in shown.stdout  # header only
    # erin's certificate arrives: a plain release encrypts for her; dave still has none -> refused, stays held
    Directory(gw.store).add(org.erin.cert, "imported")
    gw.gateway.resources.forget()
    done = release(gw.gateway, entry["id"], only=["erin@partner.example"])
    assert done.actions == ("encrypted", "signed")
    [copy] = sink.wait_for(1)
    assert copy.rcpt_tos == ["erin@partner.example"] and b"Held twice over" not in copy.data
    with pytest.raises(MailsealError, match="still held for dave"):
        release(gw.gateway, entry["id"])
    # the administrator's decision: dave gets it signed, unencrypted
    release(gw.gateway, entry["id"], unencrypted=True, actor="admin")
    _, dave = sink.wait_for(2)
    assert dave.rcpt_tos == ["dave@partner.example"] and b"Held twice over" in dave.data
    assert api.verify(dave.data, trust=_trust(org)).status == "valid"
    assert run_cli("held", "list", "--json", "--config", config).stdout.strip() == b"[]"
    releases = events(gw.store, action="gateway.release")
    assert [e.actor for e in releases].count("admin") == 1 and len(releases) == 2


def test_one_audit_record_per_message(start_gateway: StartGateway, sink: SmtpSink) -> None:
    from mailseal.store import events

    gw = start_gateway({"policy": {"domains": {"partner.example": {"encrypt": "require"}}}})
    gw.send(message("alice@example.org", ["carol@partner.example"]), "alice@example.org", ["carol@partner.example"])
    with pytest.raises(smtplib.SMTPDataError):
        gw.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org", ["dave@partner.example"])
    gw.gateway.audit_writer.flush()
    records = events(gw.store, action="gateway.message")
    assert len(records) == 2
    by_result = {e.detail["result"]: e.detail for e in records}
    assert by_result["accepted"]["actions"] == ["encrypted", "signed"]
    assert by_result["accepted"]["copies"][0]["cipher"] == "aes256-gcm"
    assert "dave@partner.example" in by_result["refused"]["reason"]


def test_signed_copies_protect_headers_and_capabilities_follow_the_setting(start_gateway: StartGateway,
                                                                           sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"policy": {"smime": {"include_capabilities": False}}})
    gw.send(message("alice@example.org", ["dave@partner.example"], "quarterly"), "alice@example.org",
            ["dave@partner.example"])
    [got] = sink.wait_for(1)
    report = api.verify(got.data, trust=_trust(org))
    assert report.status == "valid" and report.signers[0].capabilities == ()
    opened = api.open(got.data, trust=_trust(org))
    assert opened.inner.content_type()[1].get("hp") == "clear"
    assert opened.inner.field("Subject") == "quarterly" and opened.inner.field("To") == "dave@partner.example"
    gw2 = start_gateway({"policy": {"smime": {"copy_recipient_headers": False}}})
    sink.clear()
    gw2.send(message("alice@example.org", ["dave@partner.example"], "plain"), "alice@example.org",
             ["dave@partner.example"])
    [plain] = sink.wait_for(1)
    assert api.verify(plain.data, trust=_trust(org)).signers[0].capabilities  # included by default
    assert "hp" not in api.open(plain.data, trust=_trust(org)).inner.content_type()[1]


def test_decrypted_8bit_content_is_declared_8bitmime(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    inner = (b"From: erin@partner.example\r\nTo: alice@example.org\r\nSubject: umlauts\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n")
    gw.send(api.encrypt(inner, [org.alice.cert]), "erin@partner.example", ["alice@example.org"])
    gw.send(message("erin@partner.example", ["alice@example.org"]), "erin@partner.example", ["alice@example.org"])
    decrypted, plain = sink.wait_for(2)
    assert "Gr\u00fc\u00dfe".encode() in decrypted.data and "BODY=8BITMIME" in decrypted.mail_options
    assert "BODY=8BITMIME" not in plain.mail_options


def test_refused_recipient_among_others_gets_a_dsn_to_our_sender(start_gateway: StartGateway, sink: SmtpSink,
                                                                 org: Org) -> None:
    gw = start_gateway({"policy": {"domains": {"partner.example": {"encrypt": "require"}}}})
    rcpts = ["carol@partner.example", "dave@partner.example"]
    msg = message("alice@example.org", rcpts, "contract", "The secret terms.\n")
    assert gw.send(msg, "alice@example.org", rcpts) == {}
    copies = sink.wait_for(2)
    [dsn] = [c for c in copies if c.mail_from in ("", "<>")]
    [carol] = [c for c in copies if c.mail_from == "alice@example.org"]
    assert carol.rcpt_tos == ["carol@partner.example"] and b"The secret terms" not in carol.data
    assert dsn.rcpt_tos == ["alice@example.org"]
    report = dsn.parsed()
    assert report.get_content_type() == "multipart/report"
    assert b"Final-Recipient: rfc822; dave@partner.example" in dsn.data and b"Status: 5.7.1" in dsn.data
    assert b"Subject: contract" in dsn.data  # the original header...
    assert b"The secret terms" not in dsn.data  # ...never the body
    assert b"carol@partner.example" not in dsn.data.split(b"text/rfc822-headers")[0]


def test_refused_recipient_from_outside_refuses_the_whole_message(start_gateway: StartGateway,
                                                                   sink: SmtpSink) -> None:
    # no DSN to a sender who may be forged (backscatter): the sender's own MTA reports the 550
    gw = start_gateway({"gateway": {"trusted_networks": []},
                        "policy": {"rules": [{"name": "no-bob", "to": ["bob@example.org"], "action": "reject",
                                             "reason": "bob does not take mail from outside"}]}})
    rcpts = ["alice@example.org", "bob@example.org"]
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("mallory@evil.example", rcpts), "mallory@evil.example", rcpts)
    assert info.value.smtp_code == 550 and b"bob does not take mail" in info.value.smtp_error
    assert sink.messages == []


def test_inbound_signature_verified_then_stripped(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": {"strip_signatures": True}})
    signed = api.sign(message("erin@partner.example", ["alice@example.org"], "s", "Plain now.\n")
                      .as_bytes(policy=email.policy.SMTP), _identity(org.erin))
    gw.send(signed, "erin@partner.example", ["alice@example.org"])
    [got] = sink.wait_for(1)
    assert b"multipart/signed" not in got.data and b"pkcs7-signature" not in got.data
    assert b"Plain now." in got.data and got.header("Subject") == ["s"]
    [stamp] = got.header("Authentication-Results")
    assert "smime=pass" in stamp  # the result of the check is kept in the stamp


def test_broken_inbound_encryption_is_delivered_as_it_came(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """Nothing is lost, nothing retried forever: a broken S/MIME body reaches alice unchanged, with the reason."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    broken = (b"From: erin@partner.example\r\nTo: alice@example.org\r\nSubject: broken\r\n"
              b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nMIIBAAAAAAAAAAAAAAAA\r\n")
    assert gw.send(broken, "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert got.data.endswith(b"MIIBAAAAAAAAAAAAAAAA\r\n")
    [stamp] = got.header("Authentication-Results")
    assert "not decrypted: malformed-cms" in stamp


@pytest.mark.parametrize("data", [
    b"not a header line\r\n\r\nbody\r\n",
    b"From: erin@partner.example\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
    b" micalg=sha-256; boundary=b\r\n\r\n--b\r\nhello\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIIB\r\n--b--\r\n",
    b"From: erin@partner.example\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
    b"From: erin@partner.example\r\nContent-Type: multipart/signed; boundary=unterminated\r\n\r\n--unterminated\r\n",
    b"From: =?utf-8?b?////?= <erin@partner.example>\r\nSubject: \xff\xfe\r\n\r\n\x00\x01\r\n",
])
def test_hostile_inbound_never_deferred(start_gateway: StartGateway, sink: SmtpSink, data: bytes) -> None:
    """Malformed mail from outside is delivered as it came (with a stamp) or refused for good (5xx): never a
    4xx that would make the sender retry for days, never a crash."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    try:
        assert gw.send(data, "erin@partner.example", ["alice@example.org"]) == {}
    except smtplib.SMTPDataError as exc:
        assert 500 <= exc.smtp_code < 600, exc
        return
    [got] = sink.wait_for(1)
    assert got.header("Authentication-Results")[0].startswith("gw.example.org;")
    assert gw.send(message("erin@partner.example", ["alice@example.org"]), "erin@partner.example",
                   ["alice@example.org"]) == {}  # and the gateway still works


def test_obscure_subject_hides_the_subject_of_encrypted_mail(start_gateway: StartGateway, sink: SmtpSink,
                                                             org: Org) -> None:
    """policy.smime.obscure_subject: RFC 9788 hcp_baseline. Signed and encrypted: the signed layer carries the
    fields with hp="cipher"; encrypted only: the encrypted part does; a message the client signed without header
    protection keeps its Subject outside (it could travel nowhere else)."""
    carol = _identity(org.carol)
    gw = start_gateway({"policy": {"smime": {"obscure_subject": True}}})
    gw.send(message("alice@example.org", ["carol@partner.example"], "merger talks"), "alice@example.org",
            ["carol@partner.example"])
    [signed_sealed] = sink.wait_for(1)
    assert b"merger talks" not in signed_sealed.data and b"Subject: [...]" in signed_sealed.data
    opened = api.open(signed_sealed.data, [carol], trust=_trust(org))
    assert opened.report.status == "valid" and opened.report.encrypted
    assert opened.inner.content_type()[1].get("hp") == "cipher"
    assert b"Subject: merger talks" in opened.message and b"[...]" not in opened.message

    sink.clear()
    unsigned = start_gateway({"policy": {"sign": "never", "smime": {"obscure_subject": True}}})
    unsigned.send(message("alice@example.org", ["carol@partner.example"], "salary review"), "alice@example.org",
                  ["carol@partner.example"])
    [sealed] = sink.wait_for(1)
    assert b"salary review" not in sealed.data and b"Subject: [...]" in sealed.data
    assert b"Subject: salary review" in api.decrypt(sealed.data, carol)

    sink.clear()
    client_signed = api.sign(message("alice@example.org", ["carol@partner.example"], "signed by Thunderbird")
                             .as_bytes(), _identity(org.alice))
    unsigned.send(client_signed, "alice@example.org", ["carol@partner.example"])
    [kept] = sink.wait_for(1)
    assert b"Subject: signed by Thunderbird" in kept.data  # outside, as it came: nothing to protect it with
    assert api.open(kept.data, [carol], trust=_trust(org)).report.status == "valid"

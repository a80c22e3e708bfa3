"""What the gateway itself produces (decrypted or unwrapped content) reaches the next hop as CRLF text only.

The plaintext of an inbound message may hold bare LF and CR followed by SMTP commands (the smuggling forms
``\\n.\\n``, ``\\n.\\r\\n``, ``\\r.\\r\\n``); the next hop's raw DATA bytes must have no bare line end, one
message must arrive (never a second one cut out of the first), and the stamp says the line ends were normalised.
Content SMTP cannot carry at all (NUL bytes, lines over 998 octets) is delivered encrypted, as it came.
"""

from __future__ import annotations

import base64
import email
import email.policy

import pytest

from mailseal.cms.enveloping import envelope_data
from mailseal.cms.signing import sign_data
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.raw_sink import RawSink, bare_line_ends

INJECTED = b"MAIL FROM:<mallory@evil.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: injected\r\n"
SMUGGLING = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "cr-dot-crlf": b"\r.\r\n",
    "cr-dot-cr": b"\r.\r",
    "crlf-dot-lf": b"\r\n.\n",
}


def _plaintext(separator: bytes) -> bytes:
    return (b"Content-Type: text/plain; charset=us-ascii\r\n\r\nFirst line of the letter." + separator
            + INJECTED + b"last line\n")


def _pkcs7_mime(cms: bytes, smime_type: str, subject: str) -> bytes:
    body = base64.encodebytes(cms).replace(b"\n", b"\r\n")
    return (b"From: erin@partner.example\r\nTo: alice@example.org\r\nSubject: " + subject.encode()
            + b"\r\nMessage-ID: <" + subject.encode() + b"@partner.example>\r\nMIME-Version: 1.0\r\n"
            + b"Content-Type: application/pkcs7-mime; smime-type=" + smime_type.encode()
            + b'; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + body)


def _encrypted(org: Org, plaintext: bytes, subject: str) -> bytes:
    return _pkcs7_mime(envelope_data(plaintext, [org.alice.cert], cipher="aes256-gcm"), "authEnveloped-data",
                       subject)


def _check_one_clean_message(sink: RawSink) -> bytes:
    [data] = sink.wait_for(1)
    assert bare_line_ends(data) == (0, 0)
    # the injected commands are text of the one message, never a second transaction
    assert sum(1 for c in sink.commands if c.upper().startswith(b"MAIL FROM")) == 1
    return data


@pytest.mark.parametrize("separator", list(SMUGGLING.values()), ids=list(SMUGGLING))
def test_decrypted_content_is_sent_with_crlf_only(start_gateway: StartGateway, org: Org,
                                                  separator: bytes) -> None:
    with RawSink() as sink:
        gw = start_gateway(next_hop=sink.address)
        assert gw.send(_encrypted(org, _plaintext(separator), "smuggle"), "erin@partner.example",
                       ["alice@example.org"]) == {}
        data = _check_one_clean_message(sink)
    unstuffed = data.replace(b"\r\n..", b"\r\n.")
    assert b"First line of the letter." in unstuffed
    assert INJECTED in unstuffed  # the plaintext is all there, as text
    message = email.message_from_bytes(unstuffed, policy=email.policy.default)
    stamp = str(message["Authentication-Results"])
    assert "normalised to CRLF" in stamp
    assert message.get_content_type() == "text/plain"


def test_clean_decrypted_content_is_not_marked(start_gateway: StartGateway, org: Org) -> None:
    plaintext = b"Content-Type: text/plain\r\n\r\nNothing odd here.\r\n.\r\nA dot line, stuffed on the way.\r\n"
    with RawSink() as sink:
        gw = start_gateway(next_hop=sink.address)
        gw.send(_encrypted(org, plaintext, "clean"), "erin@partner.example", ["alice@example.org"])
        data = _check_one_clean_message(sink)
    assert b"\r\n..\r\nA dot line" in data  # dot-stuffed on the wire
    assert b"normalised" not in data


@pytest.mark.parametrize("bad", [b"a NUL \x00 byte", b"x" * 1200], ids=["nul", "long-line"])
def test_content_smtp_cannot_carry_is_delivered_encrypted(start_gateway: StartGateway, org: Org,
                                                          bad: bytes) -> None:
    plaintext = b"Content-Type: text/plain\r\n\r\n" + bad + b"\r\n"
    with RawSink() as sink:
        gw = start_gateway(next_hop=sink.address)
        gw.send(_encrypted(org, plaintext, "unsendable"), "erin@partner.example", ["alice@example.org"])
        data = _check_one_clean_message(sink)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message.get_content_type() == "application/pkcs7-mime"
    assert "cannot be sent over SMTP" in str(message["Authentication-Results"])
    assert b"\x00" not in data


@pytest.mark.parametrize("separator", list(SMUGGLING.values()), ids=list(SMUGGLING))
def test_verified_opaque_signed_content(start_gateway: StartGateway, org: Org, separator: bytes) -> None:
    """Opaque signed mail from outside: delivered as it came (base64), or unwrapped when the policy strips
    verified signatures; both with CRLF only."""
    signed = _pkcs7_mime(sign_data(_plaintext(separator), org.identity(org.erin), detached=False), "signed-data",
                         "opaque")
    for strip in (False, True):
        with RawSink() as sink:
            gw = start_gateway({"policy": {"strip_signatures": strip}}, next_hop=sink.address)
            assert gw.send(signed, "erin@partner.example", ["alice@example.org"]) == {}
            data = _check_one_clean_message(sink)
        message = email.message_from_bytes(data.replace(b"\r\n..", b"\r\n."), policy=email.policy.default)
        stamp = str(message["Authentication-Results"])
        assert "smime=pass" in stamp
        if strip:
            assert message.get_content_type() == "text/plain"
            assert INJECTED in data.replace(b"\r\n..", b"\r\n.")
        else:
            assert message.get_content_type() == "application/pkcs7-mime"

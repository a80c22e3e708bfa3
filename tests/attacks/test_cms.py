"""Attack class CMS: SignedData and AuthEnvelopedData built to make a verifier or decryptor believe too much.

Each case builds its message here, states the verdict mailseal must give, and says (in its docstring) what a naive
implementation answers: one that checks "a signature verifies" without RFC 5652's rules around it, or decrypts
whatever an AuthEnvelopedData names.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import algos, cms, core

import mailseal
from mailseal.cms import check_signed_data, sign_data
from mailseal.cms.asn1 import GCMParameters
from mailseal.cms.verification import MAX_SIGNERS
from mailseal.errors import DecryptionError, LimitExceededError, MalformedCMSError, UnsupportedAlgorithmError
from tests.attacks.support import (
    alice,
    eve,
    headers_of,
    mail,
    opaque_signed_data,
    pkcs7_mime,
    resign,
    sign,
    signature_der,
    trust,
    verify,
)
from tests.support.messages import ident
from tests.support.testpki import TestPKI

CONTENT = b"Content-Type: text/plain\r\n\r\nPay 10 EUR to alice.\r\n"


def _opaque(info: cms.ContentInfo, sender: str = "alice@example.org") -> bytes:
    return pkcs7_mime(info.dump(force=True), "signed-data", headers_of(sender))


def _attrs(info: cms.ContentInfo) -> cms.CMSAttributes:
    return info["content"]["signer_infos"][0]["signed_attrs"]


def _without(info: cms.ContentInfo, name: str) -> cms.ContentInfo:
    attrs = _attrs(info)
    info["content"]["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes(
        [a for a in attrs if a["type"].native != name])
    return info


def test_econtent_in_a_detached_signature_is_invalid(pki: TestPKI) -> None:
    """multipart/signed shows "Pay 9999"; its signature part carries eContent "Pay 10" that alice really signed.
    Naive: verifies the eContent, shows the MIME part: "valid"."""
    honest = sign_data(CONTENT, ident(alice(pki)), detached=False)
    signed = sign(mail("alice@example.org"), alice(pki))
    shown = signed.replace(b"Please pay the invoice today.", b"Pay 9999 EUR to eve today.  ")
    old = base64.encodebytes(signature_der(signed)).replace(b"\n", b"\r\n")
    new = base64.encodebytes(honest).replace(b"\n", b"\r\n")
    forged = shown.replace(old, new)
    assert forged != shown
    report = verify(forged, pki)
    assert report.status == "invalid-signature"
    assert any("detached" in r or "own content" in r for r in report.signers[0].reasons)


def test_econtent_relabelled_is_invalid(pki: TestPKI) -> None:
    """eContentType changed from id-data to id-ct-TSTInfo (a timestamp token), content-type attribute left.
    Naive: checks the message digest only: "valid"."""
    info = opaque_signed_data(CONTENT, alice(pki))
    info["content"]["encap_content_info"]["content_type"] = cms.ContentType("1.2.840.113549.1.9.16.1.4")
    report = verify(_opaque(info), pki)
    assert report.status == "invalid-signature"
    assert any("content-type attribute" in r for r in report.signers[0].reasons)


def test_econtent_relabelled_with_its_attribute_is_not_a_message(pki: TestPKI) -> None:
    """Both the eContentType and the content-type attribute say TSTInfo (re-signed by alice): a signature over a
    timestamp token is not a signed e-mail. Naive: renders the bytes as the message, "valid"."""
    info = opaque_signed_data(CONTENT, alice(pki))
    tst = cms.ContentType("1.2.840.113549.1.9.16.1.4")
    info["content"]["encap_content_info"]["content_type"] = tst
    for attr in _attrs(info):
        if attr["type"].native == "content_type":
            attr["values"] = cms.SetOfContentType([tst])
    raw = resign(info, alice(pki))
    assert check_signed_data(raw).signers[0].intact  # the maths holds: only the type is wrong
    with pytest.raises(MalformedCMSError, match="not a MIME entity"):
        verify(pkcs7_mime(raw, "signed-data", headers_of("alice@example.org")), pki)


def test_zero_signers_is_not_signed(pki: TestPKI) -> None:
    """RFC 5652 allows an empty SignerInfos. Naive: "all signatures verify" over an empty set: "valid"."""
    info = opaque_signed_data(CONTENT, alice(pki))
    info["content"]["signer_infos"] = cms.SignerInfos([])
    report = verify(_opaque(info), pki)
    assert not report.signed and report.status == "not-signed"


def test_a_valid_signer_does_not_carry_an_invalid_one(pki: TestPKI) -> None:
    """Two signers, alice's valid and a second one whose signature is junk. Naive: "valid" (one signer holds)."""
    info = opaque_signed_data(CONTENT, alice(pki))
    second = cms.SignerInfo.load(info["content"]["signer_infos"][0].dump())
    second["signature"] = b"\x00" * 256
    info["content"]["signer_infos"] = cms.SignerInfos([info["content"]["signer_infos"][0], second])
    report = verify(_opaque(info), pki)
    assert sorted(s.status for s in report.signers) == ["invalid-signature", "valid"]  # DER sorts the SET
    assert report.status == "invalid-signature"


def test_too_many_signers_is_a_limit(pki: TestPKI) -> None:
    """MAX_SIGNERS + 1 SignerInfos: each one a path validation. Naive: validates them all (CPU exhaustion)."""
    info = opaque_signed_data(CONTENT, alice(pki))
    first = info["content"]["signer_infos"][0]
    info["content"]["signer_infos"] = cms.SignerInfos([first] * (MAX_SIGNERS + 1))
    with pytest.raises(LimitExceededError):
        verify(_opaque(info), pki)


@pytest.mark.parametrize("attribute", ["message_digest", "content_type"])
def test_missing_attribute_is_invalid(pki: TestPKI, attribute: str) -> None:
    """RFC 5652 §5.3: with signed attributes, content-type and message-digest MUST be present. Without
    message-digest nothing binds the signature to the content. Naive: verifies the signature over the attributes:
    "valid" whatever the content."""
    info = _without(opaque_signed_data(CONTENT, alice(pki)), attribute)
    report = verify(pkcs7_mime(resign(info, alice(pki)), "signed-data", headers_of("alice@example.org")), pki)
    assert report.status == "invalid-signature"


@pytest.mark.parametrize("attribute", ["message_digest", "content_type"])
@pytest.mark.parametrize("how", ["two-attributes", "two-values"])
def test_duplicated_attribute_is_invalid(pki: TestPKI, attribute: str, how: str) -> None:
    """RFC 5652 §11: exactly one attribute with one value. A second message-digest (of other content) lets a
    verifier that reads the first and a client that reads the last disagree. Naive: reads one of them: "valid"."""
    info = opaque_signed_data(CONTENT, alice(pki))
    attrs = list(_attrs(info))
    original = next(a for a in attrs if a["type"].native == attribute)
    other: core.Asn1Value = (core.OctetString(b"\x11" * 32) if attribute == "message_digest"
                             else cms.ContentType("1.2.840.113549.1.7.2"))
    if how == "two-attributes":
        copy = cms.CMSAttribute.load(original.dump())
        copy["values"] = type(original["values"])([other])
        attrs.append(copy)
    else:
        original["values"] = type(original["values"])([*original["values"], other])
    info["content"]["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes(attrs)
    report = verify(pkcs7_mime(resign(info, alice(pki)), "signed-data", headers_of("alice@example.org")), pki)
    assert report.status == "invalid-signature"


@pytest.mark.parametrize("offset", [timedelta(days=3650), timedelta(days=-3650)], ids=["future", "before-cert"])
def test_signing_time_far_off_is_not_believed(pki: TestPKI, offset: timedelta) -> None:
    """signingTime is whatever the signer's clock (or the attacker with the key) says. A time ten years ahead, or
    before the certificate existed, is said, never used to validate. Naive: shows "signed on <that date>" and, for
    the backdated one, validates the certificate at that time."""
    when = datetime.now(UTC).replace(microsecond=0) + offset
    der = sign_data(CONTENT, ident(alice(pki)), detached=False, signing_time=when)
    report = verify(pkcs7_mime(der, "signed-data", headers_of("alice@example.org")), pki)
    signer = report.signers[0]
    assert signer.signing_time == when
    assert any("signing time" in r and "not used" in r for r in signer.reasons), signer.reasons


def test_signing_time_close_to_now_is_not_flagged(pki: TestPKI) -> None:
    """Control: an honest signing time raises no doubt (the flag above is not raised for everyone)."""
    report = verify(sign(mail("alice@example.org"), alice(pki)), pki)
    assert report.status == "valid" and not any("signing time" in r for r in report.signers[0].reasons)


# AuthEnvelopedData (RFC 5083): the decryptor must insist on an AEAD and its full tag.

def _sealed(pki: TestPKI) -> tuple[cms.ContentInfo, mailseal.Identity]:
    bob = pki.user("bob")
    sealed = mailseal.encrypt(mail("alice@example.org", to="bob@example.org"), [bob.cert], cipher="aes256-gcm")
    body = sealed.split(b"\r\n\r\n", 1)[1]
    return cms.ContentInfo.load(base64.b64decode(body)), ident(bob)


def _open(info: cms.ContentInfo, bob: mailseal.Identity) -> mailseal.Opened:
    raw = pkcs7_mime(info.dump(force=True), "authEnveloped-data", headers_of("alice@example.org"))
    return mailseal.open(raw, [bob])


def _alg(info: cms.ContentInfo) -> cms.EncryptionAlgorithm:
    return info["content"]["auth_encrypted_content_info"]["content_encryption_algorithm"]


def test_auth_enveloped_opens_untouched(pki: TestPKI) -> None:
    """Control: the AuthEnvelopedData the cases below edit opens untouched."""
    info, bob = _sealed(pki)
    opened = _open(info, bob)
    assert opened.report.layers[0].kind == "auth-enveloped" and b"Please pay" in opened.message


def test_non_aead_oid_in_auth_enveloped_is_refused(pki: TestPKI) -> None:
    """The cipher relabelled aes256-CBC (IV from the GCM nonce): CBC has no tag, so the mac would be ignored and
    a CBC gadget could change the plaintext. Naive: decrypts with whatever cipher is named."""
    info, bob = _sealed(pki)
    nonce = _alg(info)["parameters"]["aes_nonce"].native
    info["content"]["auth_encrypted_content_info"]["content_encryption_algorithm"] = algos.EncryptionAlgorithm(
        {"algorithm": "aes256_cbc", "parameters": nonce + b"\x00" * 4})
    with pytest.raises((DecryptionError, UnsupportedAlgorithmError)):
        _open(info, bob)


def test_algorithm_substitution_inside_auth_enveloped_is_refused(pki: TestPKI) -> None:
    """aes256-GCM relabelled aes128-GCM: a different key length from the same key transport. Naive: takes the first
    16 octets of the key and decrypts (the tag fails only if it is checked)."""
    info, bob = _sealed(pki)
    _alg(info)["algorithm"] = algos.EncryptionAlgorithmId("aes128_gcm")
    with pytest.raises(DecryptionError):
        _open(info, bob)


@pytest.mark.parametrize("nonce_length", [0, 1, 64, 4096], ids=["empty", "1", "64", "4096"])
def test_odd_gcm_nonce_is_refused(pki: TestPKI, nonce_length: int) -> None:
    """CVE-2025-15467 (OpenSSL): an oversized GCM IV overflowed a stack buffer; an empty one is a GCM misuse.
    Naive: copies the IV into a fixed buffer, or passes it to GCM as given."""
    info, bob = _sealed(pki)
    params = _alg(info)["parameters"]
    _alg(info)["parameters"] = GCMParameters({"aes_nonce": b"\x01" * nonce_length,
                                                "aes_icvlen": params["aes_icvlen"].native})
    with pytest.raises(DecryptionError):
        _open(info, bob)


@pytest.mark.parametrize(("keep", "icvlen"), [(0, 1), (4, 4), (8, 8), (4, 16), (12, 16), (15, 16)],
                         ids=lambda v: str(v))
def test_truncated_tag_is_refused(pki: TestPKI, keep: int, icvlen: int) -> None:
    """A mac shorter than written: with aes-ICVlen made to match (a 4-octet tag is forged in 2^32 tries; RFC 5084
    §3.2 allows 12 to 16 octets only) or left at 16 (the mac is shorter than the parameters promise). Naive: checks
    as many tag octets as the mac holds."""
    info, bob = _sealed(pki)
    content = info["content"]
    content["mac"] = core.OctetString(content["mac"].native[:keep])
    _alg(info)["parameters"]["aes_icvlen"] = core.Integer(icvlen)
    with pytest.raises(DecryptionError):
        _open(info, bob)


def test_shorter_tag_allowed_by_rfc5084_opens(pki: TestPKI) -> None:
    """12 octets with aes-ICVlen 12 is a legitimate GCM tag (RFC 5084 §3.2): a prefix of the full tag verifies.
    Control for the truncation cases: refusing every short tag would refuse RFC 5084 itself."""
    info, bob = _sealed(pki)
    info["content"]["mac"] = core.OctetString(info["content"]["mac"].native[:12])
    _alg(info)["parameters"]["aes_icvlen"] = core.Integer(12)
    assert b"Please pay" in _open(info, bob).message


def test_flipped_tag_is_refused(pki: TestPKI) -> None:
    """One bit of the tag flipped. Naive: decrypts without checking the tag (or releases plaintext before it)."""
    info, bob = _sealed(pki)
    mac = bytearray(info["content"]["mac"].native)
    mac[0] ^= 1
    info["content"]["mac"] = core.OctetString(bytes(mac))
    with pytest.raises(DecryptionError):
        _open(info, bob)


def test_raw_check_of_a_relabelled_signature_names_the_problem(pki: TestPKI) -> None:
    """The low-level check says why (the report's reasons come from it). Naive: "bad signature" with no reason, or
    "valid"."""
    info = opaque_signed_data(CONTENT, eve(pki))
    info["content"]["encap_content_info"]["content_type"] = cms.ContentType("1.2.840.113549.1.7.2")
    check = check_signed_data(info.dump(force=True))
    assert not check.signers[0].intact and "content-type" in (check.signers[0].failure or "")


def test_trust_alone_does_not_rescue_a_broken_structure(pki: TestPKI) -> None:
    """Sanity of the suite: the same message untouched is valid, so each refusal above comes from its one flaw."""
    info = opaque_signed_data(CONTENT, alice(pki))
    assert verify(_opaque(info), pki).status == "valid"
    assert trust(pki).anchors

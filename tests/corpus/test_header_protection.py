"""Header protection samples: the autocrypt draft set (draft-LAMPS keys) and the RFC 9788 one-part sample."""

from __future__ import annotations

from pathlib import Path

import pytest

import mailseal
from mailseal.errors import KeyCertificateMismatchError, WrongPasswordError
from tests.corpus._support import identity, lf, trust, utc

# The draft-LAMPS certificates are valid 2019-11-20..2052-09-27; the samples were made in November 2019.
AT = utc(2020)
ALICE = "alice@smime.example"
# (sample, layers outermost first, published inner layer holding the innermost content or None)
SAMPLES = [
    ("smime-enc+legacy-disp", ["enveloped"], "smime-enc+legacy-disp.inner"),
    ("smime-multipart-signed", ["signed"], None),
    ("smime-onepart-signed", ["signed"], "smime-onepart-signed.inner"),
    ("smime-sign+enc+legacy-disp", ["enveloped", "signed"], "smime-sign+enc+legacy-disp.inner.inner"),
    ("smime-sign+enc", ["enveloped", "signed"], "smime-sign+enc.inner.inner"),
]
IDS = [s[0] for s in SAMPLES]
ENCRYPTED = [s[0] for s in SAMPLES if s[1][0] == "enveloped"]


@pytest.fixture(scope="module")
def autocrypt(corpus: Path) -> Path:
    return corpus / "autocrypt_protected_headers"


@pytest.fixture(scope="module")
def bob(autocrypt: Path) -> mailseal.Identity:
    return mailseal.Identity.load(autocrypt / "bob.p12.der", password=b"bob")


def test_bob_p12_der_opens_with_password_bob(autocrypt: Path, bob: mailseal.Identity) -> None:
    cert = mailseal.load_certificates((autocrypt / "bob.cert.pem").read_bytes())[0]
    assert bob.certificate == cert
    with pytest.raises(WrongPasswordError):
        mailseal.Identity.load(autocrypt / "bob.p12.der", password=b"alice")


def test_bob_p12_pem_armored_opens_with_password_bob(autocrypt: Path, bob: mailseal.Identity) -> None:
    """bob.p12 is the same PKCS#12 in a `-----BEGIN PKCS12-----` armour, as published."""
    assert mailseal.Identity.load(autocrypt / "bob.p12", password=b"bob").certificate == bob.certificate


def test_draft_lamps_keys_match_their_certificates(autocrypt: Path, bob: mailseal.Identity) -> None:
    alice = identity(autocrypt / "alice.key.pem", autocrypt / "alice.cert.pem")
    assert alice.certificate.subject.rfc4514_string() == "CN=Alice Lovelace"
    assert identity(autocrypt / "bob.key.pem", autocrypt / "bob.cert.pem").certificate == bob.certificate
    with pytest.raises(KeyCertificateMismatchError):
        identity(autocrypt / "alice.key.pem", autocrypt / "bob.cert.pem")


@pytest.mark.parametrize(("sample", "layers", "inner"), SAMPLES, ids=IDS)
def test_sample_opens(
    autocrypt: Path, bob: mailseal.Identity, sample: str, layers: list[str], inner: str | None
) -> None:
    opened = mailseal.open(
        (autocrypt / f"{sample}.eml").read_bytes(), [bob], trust=trust(autocrypt / "sample-ca.pem"), at=AT
    )
    report = opened.report
    assert [layer.kind for layer in report.layers] == layers
    assert report.encrypted is (layers[0] == "enveloped")
    if "signed" in layers:
        assert [(s.status, s.intact, s.trusted, s.emails) for s in report.signers] == [("valid", True, True, [ALICE])]
        assert report.status == "valid"
    else:
        assert report.status == "not-signed"
    if inner is not None:
        assert lf(opened.entity) == lf((autocrypt / inner).read_bytes())


@pytest.mark.parametrize("sample", ENCRYPTED)
def test_decrypt_yields_published_inner_layer(autocrypt: Path, bob: mailseal.Identity, sample: str) -> None:
    """`decrypt` keeps the outer fields and appends the decrypted entity: the published *.inner file."""
    decrypted = mailseal.decrypt((autocrypt / f"{sample}.eml").read_bytes(), bob)
    assert lf(decrypted).endswith(lf((autocrypt / f"{sample}.inner").read_bytes()))


def test_multipart_signed_untrusted_without_the_sample_ca(autocrypt: Path, corpus: Path) -> None:
    """The anchor matters: the RFC 9216 RSA CA has the same name family but did not issue the draft certificates."""
    other = corpus / "rfc9216" / "from_wbond_certvalidator" / "Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem"
    report = mailseal.verify((autocrypt / "smime-multipart-signed.eml").read_bytes(), trust=trust(other), at=AT)
    assert [(s.status, s.intact) for s in report.signers] == [("untrusted", True)]


@pytest.fixture(scope="module")
def rfc9788(corpus: Path) -> bytes:
    return (corpus / "rfc9788_header_protection" / "smime-one-part.eml").read_bytes()


@pytest.fixture(scope="module")
def rsa_ca(corpus: Path) -> mailseal.TrustStore:
    return trust(
        corpus / "rfc9216" / "from_wbond_certvalidator" / "Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem"
    )


def test_rfc9788_one_part_valid_at_signing_time(rfc9788: bytes, rsa_ca: mailseal.TrustStore) -> None:
    signed_at = utc(2021, 2, 20, 15, 1, 2)
    report = mailseal.verify(rfc9788, trust=rsa_ca, at=signed_at)
    assert [(s.status, s.intact, s.trusted, s.emails) for s in report.signers] == [("valid", True, True, [ALICE])]
    assert report.signers[0].signing_time == signed_at
    assert report.to_dict()["signers"][0]["signing_time"] == "2021-02-20T15:01:02Z"


def test_rfc9788_one_part_content(rfc9788: bytes, rsa_ca: mailseal.TrustStore) -> None:
    opened = mailseal.open(rfc9788, trust=rsa_ca, at=utc(2021, 2, 20, 15, 1, 2))
    assert opened.report.content_type == "text/plain"
    assert b"This is the smime-one-part message." in opened.entity


def test_rfc9788_one_part_tampered_is_invalid(rfc9788: bytes, rsa_ca: mailseal.TrustStore) -> None:
    """Flip one base64 character inside the signed content: the same verification must now fail."""
    body_start = rfc9788.index(b"\n\n") + 2
    target = rfc9788.index(b"IHRleHQvcGxhaW47", body_start)  # base64 of " text/plain;" in the eContent
    tampered = rfc9788[:target] + b"J" + rfc9788[target + 1 :]
    report = mailseal.verify(tampered, trust=rsa_ca, at=utc(2021, 2, 20, 15, 1, 2))
    assert [s.intact for s in report.signers] == [False]
    assert report.status != "valid"


# Issue 17 point 4: the samples' protected header fields are the ones a reader is given (RFC 9788 §4).
SCHEMES = {"smime-enc+legacy-disp": True, "smime-multipart-signed": False, "smime-onepart-signed": False,
           "smime-sign+enc+legacy-disp": True, "smime-sign+enc": False}  # sample -> has a legacy display part


@pytest.mark.parametrize(("sample", "legacy"), SCHEMES.items(), ids=list(SCHEMES))
def test_sample_opens_with_its_protected_headers(autocrypt: Path, bob: mailseal.Identity, sample: str,
                                                 legacy: bool) -> None:
    """The encrypted samples send Subject "..." outside; the protected Subject is the real one, and the draft's
    obscured Subject is no difference."""
    raw = (autocrypt / f"{sample}.eml").read_bytes()
    report = mailseal.open(raw, [bob], trust=trust(autocrypt / "sample-ca.pem"), at=AT).report
    headers = report.headers
    assert headers is not None and headers.source == "protected"
    assert headers.scheme == "protected-headers=v1" and headers.legacy_display is legacy
    assert headers.differences == ()
    expected = "The FooCorp contract" if "signed" in sample and "enc" not in sample else "BarCorp contract signed"
    assert (headers.value("Subject") or "").startswith(expected)
    assert headers.value("From") == "Alice Lovelace <alice@smime.example>"


@pytest.mark.parametrize("sample", ["smime-onepart-signed", "smime-multipart-signed", "smime-sign+enc"])
def test_sample_with_outer_subject_changed_is_flagged(autocrypt: Path, bob: mailseal.Identity, sample: str) -> None:
    raw = (autocrypt / f"{sample}.eml").read_bytes().replace(b"\nSubject: ", b"\nSubject: Re: wire the money ", 1)
    report = mailseal.open(raw, [bob], trust=trust(autocrypt / "sample-ca.pem"), at=AT).report
    assert report.headers is not None and report.headers.changed == ("subject",)
    assert report.status == "valid"  # the signature still holds: the change is said, not blamed on alice
    assert any("Re: wire the money" in w for w in report.to_dict()["warnings"])


@pytest.mark.parametrize("sample", ["smime-onepart-signed", "smime-multipart-signed"])
def test_sample_with_outer_from_changed_is_not_valid(autocrypt: Path, sample: str) -> None:
    raw = (autocrypt / f"{sample}.eml").read_bytes().replace(
        b"From: Alice Lovelace <alice@smime.example>", b"From: Bob Babbage <bob@smime.example>", 1)
    report = mailseal.verify(raw, trust=trust(autocrypt / "sample-ca.pem"), at=AT)
    assert report.status == "address-mismatch" and report.signers[0].emails == [ALICE]


def test_rfc9788_one_part_has_no_protected_headers(rfc9788: bytes, rsa_ca: mailseal.TrustStore) -> None:
    """The RFC 9788 one-part sample "uses no header protection": its outer fields are the ones shown."""
    report = mailseal.verify(rfc9788, trust=rsa_ca, at=utc(2021, 2, 20, 15, 1, 2))
    assert report.headers is not None and report.headers.source == "outer"
    assert report.headers.value("Subject") == "smime-one-part"


def test_draft_legacy_display_part_is_left_out_when_opened(autocrypt: Path, bob: mailseal.Identity) -> None:
    """Issue 17 point 4, RFC 9788 §4.5.3: the draft's legacy display (a separate text/plain protected-headers="v1"
    part, first in the multipart/mixed payload) is left out of the opened message, which shows the protected
    Subject in its header; the text part comes first. (The corpus holds no HTML legacy display element:
    tests/mime/test_legacy_display.py generates those.)"""
    from mailseal.mime import Entity
    from mailseal.mime.legacydisplay import main_body_parts

    raw = (autocrypt / "smime-enc+legacy-disp.eml").read_bytes()
    opened = mailseal.open(raw, [bob], trust=trust(autocrypt / "sample-ca.pem"), at=AT)
    assert opened.report.headers is not None and opened.report.headers.legacy_display
    head, _, body = opened.message.partition(b"\r\n\r\n")
    assert b"Subject: BarCorp contract signed, let's go!" in head
    assert b"Subject: BarCorp" not in body and b"Hi Bob!" in body
    parts = list(main_body_parts(Entity.parse(opened.message)))
    assert parts and parts[0][0].decoded_body().replace(b"\r\n", b"\n").startswith(b"Hi Bob!")

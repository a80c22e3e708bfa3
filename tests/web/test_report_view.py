"""The verify page's view model over Reports of real messages: verdict, coverage, signers, chain, encryption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import mailseal
from mailseal.cms.identity import fingerprint
from mailseal.web import report_words as words
from mailseal.web.report_certs import validation_type
from mailseal.web.report_view import ReportView, SignerView, message_headers, report_view
from tests.support.messages import ident
from tests.support.testpki import TestPKI
from tests.web import report_support as cases
from tests.web.report_support import Case


def view_of(case: Case, **kwargs: object) -> ReportView:
    return report_view(case.report, message_headers(case.message), **kwargs)  # type: ignore[arg-type]


def only_signer(view: ReportView) -> SignerView:
    signers = [s for layer in view.layers for s in layer.signers]
    assert len(signers) == 1, view
    return signers[0]


@pytest.fixture(scope="module")
def ca_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Case]:
    return cases.ca_cases(Path(tmp_path_factory.mktemp("report-ca")))


def test_valid_message_is_valid_with_validation_type_and_anchor(ca_pair: tuple[Case, Case]) -> None:
    case = ca_pair[0]
    view = view_of(case)
    assert case.report.status == "valid"
    assert (view.verdict.word, view.verdict.tone, view.verdict.icon) == ("Valid", "good", "check")
    assert view.headline == words.VALID_SENTENCE
    signer = only_signer(view)
    assert signer.validation_type == "Mailbox-validated, strict"
    assert signer.revocation.state.word == "Not revoked"
    assert signer.signed_by is None and signer.address_matches is True
    assert [e.role for e in signer.chain] == ["Signer certificate", "Trust anchor"] and signer.chain_complete
    cert = case.report.signers[0].certificate
    assert cert is not None and signer.fingerprint == fingerprint(cert)
    assert signer.chain[-1].cert.fingerprint_sha256 == fingerprint(case.report.signers[0].chain[-1])
    assert signer.signing_time is not None and signer.signing_time.endswith("UTC")
    assert view.layers[0].covers == "text/plain" and view.layers[0].counts
    assert any("header fields outside the signed part" in n for n in view.layers[0].not_covered)


def test_trust_source_is_named_for_the_anchor(ca_pair: tuple[Case, Case]) -> None:
    anchor = ca_pair[0].report.signers[0].chain[-1]
    view = view_of(ca_pair[0], trust_sources={fingerprint(anchor): "the store's trust list"})
    assert only_signer(view).chain[-1].trust == "Trusted: the store's trust list"


def test_revoked_signer_shows_revocation_method_and_time(ca_pair: tuple[Case, Case]) -> None:
    view = view_of(ca_pair[1])
    signer = only_signer(view)
    assert signer.status == "revoked" and signer.sentence == words.REVOKED
    assert signer.revocation.state.word == "Revoked" and signer.revocation.method == "CRL"
    assert signer.revocation.time is not None
    assert signer.revocation.time.startswith(datetime.now(UTC).strftime("%Y-%m-"))
    assert signer.chain[0].revocation.word == "Revoked"
    assert [e.role for e in signer.chain] == ["Signer certificate", "Issuer carried by the message"]
    assert view.verdict.tone == "bad" and "revoked" in view.verdict.word


def test_tampered_message_is_content_altered(pki: TestPKI) -> None:
    view = view_of(cases.tampered(pki))
    signer = only_signer(view)
    assert signer.status == "invalid-signature"
    assert signer.sentence == words.CONTENT_ALTERED and "altered" in view.headline
    assert view.verdict.word == "Invalid: content altered" and view.verdict.icon == "cross"
    assert not signer.chain_complete


def test_expired_signer_certificate(pki: TestPKI) -> None:
    signer = only_signer(view_of(cases.expired(pki)))
    assert signer.status == "expired" and signer.sentence == words.EXPIRED
    assert signer.chain[0].validity.word == "Expired"


def test_untrusted_issuer_is_unknown_ca(pki: TestPKI) -> None:
    signer = only_signer(view_of(cases.untrusted(pki)))
    assert signer.status == "untrusted" and signer.sentence == words.UNKNOWN_CA
    assert not signer.chain_complete and "No trusted chain" in signer.chain_note
    assert [e.cert.subject for e in signer.chain] == [
        "O=mailseal tests,CN=alice", "O=mailseal tests,CN=mailseal Test Intermediate",
        "O=mailseal tests,CN=mailseal Test Root"]
    assert all(e.trust.startswith("Carried by the message") for e in signer.chain[1:])


def test_address_mismatch_shows_signed_by(pki: TestPKI) -> None:
    view = view_of(cases.mismatch(pki))
    signer = only_signer(view)
    assert signer.status == "address-mismatch" and signer.sentence == words.ADDRESS_MISMATCH
    assert signer.signed_by == "alice@example.org" and signer.address_matches is False
    assert view.headers.from_address == "boss@example.org"
    assert view.verdict.word == "Not valid: address mismatch"


def test_signed_part_inside_unsigned_text_is_never_valid(pki: TestPKI) -> None:
    case = cases.wrapped(pki)
    view = view_of(case)
    assert not case.report.signed and case.report.layers == ()
    assert "valid" not in view.verdict.word.lower().replace("not valid", "")
    assert view.verdict.tone == "warn" and view.verdict.word == "Not signed: only a part is signed"
    assert any("multipart/signed" in p for p in view.nested_parts)
    assert [e for e in view.explanation if e.startswith("Signed part")] == ["Signed part: part 2: multipart/signed"]
    assert "not signed" in view.headline
    assert view.integrity.tone != "good"


def test_aes_gcm_is_authenticated(pki: TestPKI) -> None:
    view = view_of(cases.encrypted(pki, "aes256-gcm"))
    enc = view.layers[0].encryption
    assert enc is not None and enc.authenticated and enc.content_algorithm == "aes256_gcm"
    assert enc.state.word == "Authenticated encryption (AEAD)"
    assert view.integrity.tone == "good" and view.verdict.word == "Encrypted, not signed"


def test_aes_cbc_is_malleable(pki: TestPKI) -> None:
    view = view_of(cases.encrypted(pki, "aes256-cbc"))
    enc = view.layers[0].encryption
    assert enc is not None and not enc.authenticated and enc.content_algorithm == "aes256_cbc"
    assert enc.state.word.startswith("Malleable") and enc.state.tone == "warn"
    assert view.integrity.tone == "warn" and "CBC" in view.integrity.word
    assert any("integrity not protected" in w for w in view.warnings)


def test_cbc_with_a_valid_signature_inside_is_protected_by_the_signature(pki: TestPKI) -> None:
    view = view_of(cases.encrypted(pki, "aes256-cbc", signed=True))
    assert [lay.kind for lay in view.layers] == ["encrypted", "signed"]
    assert view.layers[0].encryption is not None and not view.layers[0].encryption.authenticated
    assert view.layers[1].counts and any("the encryption around it" in n for n in view.layers[1].not_covered)
    assert view.integrity.word == "Integrity protected by the signature"


@pytest.mark.parametrize(("oid", "expected"), [
    ("2.23.140.1.5.1.1", "Mailbox-validated, legacy"),
    ("2.23.140.1.5.2.2", "Organization-validated, multipurpose"),
    ("2.23.140.1.5.3.3", "Sponsor-validated, strict"),
    ("2.23.140.1.5.4.1", "Individual-validated, legacy"),
    ("2.23.140.1.5.5.1", None),
    ("2.23.140.1.5.1", None),
    ("2.5.29.32.0", None),
])
def test_validation_type_from_cabf_policy_oid(oid: str, expected: str | None) -> None:
    assert validation_type(("1.2.3.4", oid)) == expected


def test_message_headers_are_read_from_the_root() -> None:
    heads = message_headers(b"From: A <a@example.org>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
                            b"Subject: hi\r\n\r\nbody\r\n")
    assert heads.from_address == "a@example.org" and heads.subject == "hi" and heads.date_header is not None
    assert message_headers(b"From: a@example.org, b@example.org\r\n\r\n").from_address is None


def test_expired_issuer_is_worded_as_the_ca_expired(pki: TestPKI) -> None:
    case = cases.expired_ca(pki)
    signer = only_signer(view_of(case))
    assert signer.status == "expired" and signer.sentence == words.EXPIRED_CA
    assert signer.chain[0].validity.word == "Within validity"  # the signer's own certificate is within its dates
    # The refused path holds the signer alone; the intermediate the message carries shows which one expired.
    assert [(e.role, e.cert.subject, e.validity.word) for e in signer.chain[1:]] == [
        ("Issuer carried by the message", "CN=Expired Intermediate", "Expired"),
        ("Issuer carried by the message", "O=mailseal tests,CN=mailseal Test Root", "Within validity"),
    ]
    assert not signer.chain_complete and "not validate" in signer.chain_note
    # Told which anchors the console trusts, the carried root is shown as the anchor it is.
    root = fingerprint(pki.root_cert)
    anchored = only_signer(view_of(case, trust_sources={root: "the system bundle"}))
    assert (anchored.chain[-1].role, anchored.chain[-1].trust) == (
        "Trust anchor", "Trusted: the system bundle; the path below it was refused")


def test_certificate_not_for_email_signing(pki: TestPKI) -> None:
    signer = only_signer(view_of(cases.not_for_email(pki)))
    assert signer.status == "usage-not-allowed" and signer.sentence == words.USAGE_NOT_ALLOWED
    assert signer.state.tone == "bad" and "not for e-mail" in signer.state.word


def test_hard_fail_without_revocation_information_is_not_valid(pki: TestPKI) -> None:
    view = view_of(cases.hard_fail(pki))
    signer = only_signer(view)
    assert signer.status == "revocation-unknown" and signer.sentence == words.REVOCATION_UNKNOWN
    assert signer.revocation.state.word == "Revocation unknown"
    assert signer.revocation.method.startswith("no CRL or OCSP response answered")
    assert view.verdict.word == "Not valid: revocation unknown" and view.verdict.icon == "question"


def test_message_without_from_shows_who_signed(pki: TestPKI) -> None:
    signed = mailseal.sign(b"To: bob@example.org\r\nSubject: s\r\n\r\nhi\r\n", ident(pki.user("alice")),
                           allow_from_mismatch=True)
    view = view_of(cases.verified(signed, pki))
    signer = only_signer(view)
    assert view.headers.from_header is None and signer.status == "address-mismatch"
    assert signer.signed_by == "alice@example.org" and signer.address_matches is None


def test_triple_wrapped_counts_the_outer_signature_only(pki: TestPKI) -> None:
    view = view_of(cases.triple(pki))
    assert [lay.kind for lay in view.layers] == ["signed", "encrypted", "signed"]
    assert [lay.counts for lay in view.layers] == [True, False, False]
    assert view.layers[0].covers == "application/pkcs7-mime"
    assert any("too deep" in n for n in view.layers[2].not_covered)


def test_not_yet_valid_signer_certificate(pki: TestPKI) -> None:
    now = datetime.now(UTC)
    user = pki.user("early", not_before=now + timedelta(days=2), not_after=now + timedelta(days=30),
                    email="alice@example.org")
    signer = only_signer(view_of(cases.verified(mailseal.sign(cases.MESSAGE, ident(user)), pki)))
    assert signer.status == "not-yet-valid" and signer.sentence == words.NOT_YET_VALID
    assert signer.chain[0].validity.word == "Not yet valid" and signer.state.word.endswith("not yet valid")

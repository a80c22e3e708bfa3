"""RFC 4134 "Examples of S/MIME Messages": every example whose result the corpus README states.

The signer chains use SHA-1 and 1024-bit keys and expire in 2039: validation happens at a fixed 2020-01-01.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mailseal
from mailseal.cms import check_signed_data, decrypt_data, load_certificates, parse_content_info
from mailseal.errors import MailsealError, NotEncryptedError, UnsupportedAlgorithmError
from tests.corpus._support import SAMPLE, certs, identity, trust, utc

AT = utc(2020)
# Single-signer SignedData examples: (example, signer CN, signer certificate file).
SINGLE_SIGNER = [
    ("4.1", "AliceDSS", "AliceDSSSignByCarlNoInherit.cer"),  # DSA, SHA-1
    ("4.2", "AliceRSA", "AliceRSASignByCarl.cer"),  # RSA
    ("4.3", "AliceDSS", "AliceDSSSignByCarlNoInherit.cer"),  # detached: content is ExContent.bin
    ("4.4", "AliceDSS", "AliceDSSSignByCarlNoInherit.cer"),  # CRL, signed attributes, countersignature
    ("4.5", "AliceRSA", "AliceRSASignByCarl.cer"),  # indefinite-length BER
    ("4.7", "AliceDSS", "AliceDSSSignByCarlNoInherit.cer"),  # signer named by SubjectKeyIdentifier
    ("4.10", "AliceDSS", "AliceDSSSignByCarlNoInherit.cer"),  # many unusual signed attributes
]
IDS = [case[0] for case in SINGLE_SIGNER]


@pytest.fixture(scope="module")
def rfc4134(corpus: Path) -> Path:
    return corpus / "rfc4134"


def _detached(rfc4134: Path, example: str) -> bytes | None:
    return (rfc4134 / "ExContent.bin").read_bytes() if example == "4.3" else None


def test_sample_content_file(rfc4134: Path) -> None:
    assert (rfc4134 / "ExContent.bin").read_bytes() == SAMPLE


@pytest.mark.parametrize(("example", "cn", "cert_file"), SINGLE_SIGNER, ids=IDS)
def test_signed_example_is_intact(rfc4134: Path, example: str, cn: str, cert_file: str) -> None:
    der = (rfc4134 / f"{example}.bin").read_bytes()
    check = check_signed_data(der, _detached(rfc4134, example), [])
    assert check.content == (None if example == "4.3" else SAMPLE)
    assert check.detached is (example == "4.3")
    assert len(check.signers) == 1
    signer = check.signers[0]
    assert signer.intact, signer.failure
    assert signer.failure is None
    assert signer.certificate is not None
    assert signer.certificate == load_certificates((rfc4134 / cert_file).read_bytes())[0]
    assert signer.certificate.subject.rfc4514_string() == f"CN={cn}"


def test_detached_4_3_fails_without_its_content(rfc4134: Path) -> None:
    check = check_signed_data((rfc4134 / "4.3.bin").read_bytes(), None, [])
    assert [s.intact for s in check.signers] == [False]
    assert check.signers[0].failure


def test_detached_4_3_fails_with_other_content(rfc4134: Path) -> None:
    check = check_signed_data((rfc4134 / "4.3.bin").read_bytes(), SAMPLE + b"!", [])
    assert [s.intact for s in check.signers] == [False]


@pytest.mark.parametrize(("example", "cn", "cert_file"), SINGLE_SIGNER, ids=IDS)
def test_signed_example_chains_to_carl(rfc4134: Path, example: str, cn: str, cert_file: str) -> None:
    """Intact and chained to the Carl roots; SHA-1 and 1024-bit keys make the verdict weak-algorithm (RFC 8551)."""
    der = (rfc4134 / f"{example}.bin").read_bytes()
    carl = trust(rfc4134 / "CarlRSASelf.cer", rfc4134 / "CarlDSSSelf.cer")
    report = mailseal.verify(der, trust=carl, at=AT, detached_content=_detached(rfc4134, example))
    assert [(s.intact, s.status) for s in report.signers] == [(True, "weak-algorithm")]
    assert report.signers[0].emails == [f"{cn}@example.com"]


@pytest.mark.parametrize(("example", "cn", "cert_file"), SINGLE_SIGNER, ids=IDS)
def test_signed_example_untrusted_under_the_other_root(rfc4134: Path, example: str, cn: str, cert_file: str) -> None:
    """The anchor matters: Carl's other root (RSA vs DSS) does not issue this signer."""
    der = (rfc4134 / f"{example}.bin").read_bytes()
    other = rfc4134 / ("CarlRSASelf.cer" if "DSS" in cn else "CarlDSSSelf.cer")
    report = mailseal.verify(der, trust=trust(other), at=AT, detached_content=_detached(rfc4134, example))
    assert [(s.intact, s.status) for s in report.signers] == [(True, "untrusted")]


def test_two_signers_4_6(rfc4134: Path) -> None:
    """Alice's DSA signature verifies. Diane's DSA key inherits its parameters from CarlDSS, which pyca cannot load:
    mailseal drops the unparseable certificate, so that signer is a clean failure (not intact, no certificate)."""
    check = check_signed_data((rfc4134 / "4.6.bin").read_bytes(), None, [])
    assert check.content == SAMPLE
    assert len(check.signers) == 2
    alice, diane = check.signers
    assert alice.intact, alice.failure
    assert alice.certificate is not None and alice.certificate.subject.rfc4514_string() == "CN=AliceDSS"
    assert not diane.intact
    assert diane.certificate is None
    assert diane.failure


@pytest.mark.parametrize("eml", ["4.8.eml", "4.9.eml"])
def test_signed_mail(rfc4134: Path, eml: str) -> None:
    """AliceDSS signs both mails. The signature is intact and chains to CarlDSS, but the From
    (aliceDss@examples.com) is not the certificate's address (AliceDSS@example.com: another domain), so the exact
    verdict is address-mismatch, which outranks the SHA-1 weak-algorithm verdict."""
    carl = trust(rfc4134 / "CarlRSASelf.cer", rfc4134 / "CarlDSSSelf.cer")
    opened = mailseal.open((rfc4134 / eml).read_bytes(), trust=carl, at=AT)
    report = opened.report
    assert report.signed and not report.encrypted
    assert [(s.intact, s.status) for s in report.signers] == [(True, "address-mismatch")]
    assert report.signers[0].emails == ["AliceDSS@example.com"]
    assert report.status == "address-mismatch"
    assert SAMPLE in opened.entity


@pytest.mark.parametrize("eml", ["4.8.eml", "4.9.eml"])
def test_signed_mail_untrusted_with_rsa_root_only(rfc4134: Path, eml: str) -> None:
    report = mailseal.verify((rfc4134 / eml).read_bytes(), trust=trust(rfc4134 / "CarlRSASelf.cer"), at=AT)
    assert [(s.intact, s.status) for s in report.signers] == [(True, "untrusted")]


def test_certs_only_4_11(rfc4134: Path) -> None:
    """RFC 4134 §4.11: no content, no signature, only Alice's and Carl's (DSS) certificates."""
    der = (rfc4134 / "4.11.bin").read_bytes()
    loaded = load_certificates(der)
    expected = certs(rfc4134 / "CarlDSSSelf.cer", rfc4134 / "AliceDSSSignByCarlNoInherit.cer")
    assert sorted(c.subject.rfc4514_string() for c in loaded) == ["CN=AliceDSS", "CN=CarlDSS"]
    assert set(loaded) == set(expected)
    assert check_signed_data(der).signers == ()


def test_certs_only_4_11_is_not_reported_as_protected(rfc4134: Path) -> None:
    """A certs-only object carries no signature: no signer, and no claim of integrity protection."""
    report = mailseal.open((rfc4134 / "4.11.bin").read_bytes()).report
    assert report.signers == ()
    assert report.status == "not-signed"
    assert not report.integrity_protected


def _bob(rfc4134: Path) -> mailseal.Identity:
    return identity(rfc4134 / "BobPrivRSAEncrypt.pri", rfc4134 / "BobRSASignByCarl.cer")


def test_enveloped_5_1_decrypts_to_sample(rfc4134: Path) -> None:
    bob = _bob(rfc4134)
    result = decrypt_data((rfc4134 / "5.1.bin").read_bytes(), bob.private_key, bob.certificate)
    assert result.content == SAMPLE
    assert (result.kind, result.content_algorithm, result.key_algorithm) == (
        "enveloped",
        "tripledes_3key",
        "rsaes_pkcs1v15",
    )


def test_enveloped_5_1_via_api(rfc4134: Path) -> None:
    assert mailseal.decrypt((rfc4134 / "5.1.bin").read_bytes(), _bob(rfc4134)) == SAMPLE


def test_enveloped_mail_5_3_decrypts_to_sample(rfc4134: Path) -> None:
    """5.3.eml holds the bare 28 bytes (no MIME header) 3DES-encrypted to Bob."""
    decrypted = mailseal.decrypt((rfc4134 / "5.3.eml").read_bytes(), _bob(rfc4134))
    assert decrypted.endswith(SAMPLE)


def test_rc2_5_2_is_refused_cleanly(rfc4134: Path) -> None:
    bob = _bob(rfc4134)
    der = (rfc4134 / "5.2.bin").read_bytes()
    with pytest.raises(UnsupportedAlgorithmError, match="rc2"):
        decrypt_data(der, bob.private_key, bob.certificate)
    with pytest.raises(UnsupportedAlgorithmError):
        mailseal.open(der, [bob])


@pytest.mark.parametrize("example", ["3.1", "3.2"])
def test_id_data_holds_sample(rfc4134: Path, example: str) -> None:
    info = parse_content_info((rfc4134 / f"{example}.bin").read_bytes())
    assert info["content_type"].native == "data"
    assert info["content"].native == SAMPLE


@pytest.mark.parametrize("example", ["3.1", "6.0", "7.1", "7.2"])
def test_unsupported_structures_are_refused_cleanly(rfc4134: Path, example: str) -> None:
    """id-data, DigestedData and EncryptedData are not S/MIME layers mailseal opens: a typed refusal, no crash."""
    with pytest.raises(NotEncryptedError):
        mailseal.open((rfc4134 / f"{example}.bin").read_bytes())
    with pytest.raises(MailsealError):
        mailseal.decrypt((rfc4134 / f"{example}.bin").read_bytes(), _bob(rfc4134))

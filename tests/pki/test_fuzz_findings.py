"""What the fuzzers found in the pki layer (tests/fuzz, issue 17), one test per fix: each input used to escape
as an untyped exception (binascii.Error, KeyError, UnsupportedAlgorithm, a ValueError deep in validation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator.errors import OCSPValidationError

from mailseal.cms.identity import load_certificates
from mailseal.errors import CertificateError, MalformedInputError
from mailseal.pki.certvalidator_fetchers import ocsp_response
from mailseal.pki.profile import (
    describe_key,
    encryption_usage_problems,
    key_problems,
    signing_usage_problems,
    weak_key_reason,
)
from mailseal.pki.revocation import RevocationCache, load_crls, ocsp_validity
from tests.support.testpki import TestPKI

REGRESSIONS = Path(__file__).resolve().parents[1] / "fuzz" / "regressions"
RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")
UNKNOWN_KEY = bytes.fromhex("2a864886f70d010163")  # 1.2.840.113549.1.1.99: no key type pyca knows


def test_crl_pem_with_bad_base64_is_malformed_input() -> None:
    with pytest.raises(MalformedInputError):
        load_crls(b"-----BEGIN X509 CRL-----\nMIIBqzCBlAIBAN\n-----END X509 CRL-----\n")


def test_crl_with_malformed_next_update_is_refused_when_loaded() -> None:
    """The CRL file of the CLI is parsed whole: a bad nextUpdate used to pass and fail later in validation."""
    with pytest.raises(MalformedInputError):
        load_crls((REGRESSIONS / "revocation-1fd7a4a1cf80").read_bytes())


def test_pkcs7_pem_block_with_bad_base64_is_a_certificate_error() -> None:
    with pytest.raises(CertificateError):
        load_certificates(b"-----BEGIN PKCS7-----\nMIICkgYJKoZIhvcNAQcDoI\n-----END PKCS7-----\n")


def test_ocsp_response_of_another_type_is_value_error_and_not_cached(tmp_path: Path) -> None:
    der = (REGRESSIONS / "revocation-88367a7358a1").read_bytes()[1:]
    with pytest.raises(ValueError):
        ocsp_validity(der)
    cache = RevocationCache(tmp_path)
    cache.put_ocsp("http://ocsp.example/", b"id", der)
    assert cache.get_ocsp("http://ocsp.example/", b"id", __import__("datetime").datetime.now()) is None


def test_garbage_ocsp_body_is_a_validation_error_of_the_fetcher() -> None:
    from tests.fuzz.targets import _ocsp_request

    with pytest.raises(OCSPValidationError):
        ocsp_response(b"\x30\x03\x0a\x01\x00", _ocsp_request(), "http://ocsp.example/")  # type: ignore[arg-type]


def test_certificate_with_a_key_pyca_cannot_load_is_judged_not_raised(pki: TestPKI) -> None:
    der = pki.user("alice").cert.public_bytes(Encoding.DER)
    assert der.count(RSA_ENCRYPTION) == 1
    cert = x509.load_der_x509_certificate(der.replace(RSA_ENCRYPTION, UNKNOWN_KEY))
    unsupported = "the certificate's key algorithm (1.2.840.113549.1.1.99) is not supported"
    assert signing_usage_problems(cert) == [unsupported]  # judged by its OID, never a traceback
    assert weak_key_reason(cert) is None
    assert describe_key(cert) == "1.2.840.113549.1.1.99"
    assert unsupported in encryption_usage_problems(cert)
    assert key_problems(cert) == []  # the usage checks above already say it


def test_signer_certificate_with_a_bit_string_name_attribute_is_unreadable_not_raised() -> None:
    """A subject attribute of type BIT STRING under another OID than x500UniqueIdentifier: pyca raises TypeError
    (not ValueError) when the name is read; the signer is refused with the reason, as for any unparsable name."""
    import mailseal

    report = mailseal.verify((REGRESSIONS / "verify-ff09d8c0ed28").read_bytes())
    [signer] = report.layers[0].signers
    assert any("cannot be parsed: its subject is malformed" in reason for reason in signer.reasons)


def test_certificate_with_a_duplicate_extension_is_unreadable_not_raised(pki: TestPKI) -> None:
    """RFC 5280 §4.2: an extension appears at most once. pyca raises DuplicateExtension (not a ValueError) when
    the extensions are read: the signer is refused as unreadable, and the shown fields still render."""
    from asn1crypto import x509 as a_x509

    from mailseal.pki.certfields import certificate_fields, unreadable_reason

    parsed = a_x509.Certificate.load(pki.user("alice").cert.public_bytes(Encoding.DER))
    extensions = parsed["tbs_certificate"]["extensions"]
    extensions.append(a_x509.Extension.load(extensions[0].dump()))
    cert = x509.load_der_x509_certificate(parsed.dump(force=True))
    reason = unreadable_reason(cert)
    assert reason is not None and "its extensions are malformed" in reason and "Duplicate" in reason
    assert certificate_fields(cert).subject is not None


def test_certificate_of_an_unknown_version_is_a_certificate_error(pki: TestPKI) -> None:
    """pyca's InvalidVersion is not a ValueError: a PEM or DER certificate whose version is not v1-v3 escaped
    the loaders (``mailseal trust add``, ``certs import``, --cert options) untyped."""
    der = pki.user("alice").cert.public_bytes(Encoding.DER)
    v3 = bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2 (v3)
    assert der.count(v3) == 1
    broken = der.replace(v3, bytes.fromhex("a003020122"))  # version 35
    with pytest.raises(CertificateError):
        load_certificates(broken)
    import base64

    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(broken) + b"-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateError):
        load_certificates(pem)


def test_crl_with_an_empty_bit_string_is_refused_typed() -> None:
    """asn1crypto raises IndexError reading an empty BIT STRING: a fetched CRL is refused (ValueError, which the
    fetcher turns into a failed fetch) and a CRL file is MalformedInputError."""
    from mailseal.pki.revocation import parse_crl

    crash = (REGRESSIONS / "revocation-9f994a57dd5d").read_bytes()
    with pytest.raises(ValueError):
        parse_crl(crash)
    with pytest.raises(MalformedInputError):
        load_crls(crash)


def test_ocsp_response_with_a_type_asn1crypto_cannot_decode_is_a_validation_error() -> None:
    """An ObjectDescriptor inside the basic response: asn1crypto raises AttributeError when it is decoded."""
    from tests.fuzz.targets import _ocsp_request

    crash = (REGRESSIONS / "revocation-a727347ecc2c").read_bytes()[1:]
    with pytest.raises(OCSPValidationError):
        ocsp_response(crash, _ocsp_request(), "http://ocsp.example/")  # type: ignore[arg-type]

"""The internal CA's OCSP responder (RFC 6960): statuses, nonce, signatures, delegated signer, HTTP GET/POST."""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from mailseal.pki.authority import CertificateAuthority, Issued
from mailseal.pki.ocsp_responder import (
    MAX_REQUEST_BYTES,
    ResponderSigner,
    ca_signer,
    delegated_signer,
    make_server,
    respond,
)

PASS = b"ocsp test"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create("OCSP CA", PASS, directory=tmp_path_factory.mktemp("ocsp") / "ca",
                                       key_type="p256")


@pytest.fixture(scope="module")
def user(ca: CertificateAuthority) -> Issued:
    return ca.issue("olga@example.org", key_type="p256")


def _request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None,
             algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _verify_signature(response: ocsp.OCSPResponse, signer_cert: x509.Certificate) -> None:
    key = signer_cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm))


def test_good_with_nonce_and_validity(ca: CertificateAuthority, user: Issued) -> None:
    der = respond(ca, _request(user.certificate, ca.certificate, nonce=b"0123456789abcdef"), ca_signer(ca))
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == user.certificate.serial_number
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    assert response.next_update_utc is not None
    assert response.next_update_utc - response.this_update_utc == timedelta(hours=1)
    assert response.responder_key_hash == ca.ski.digest
    _verify_signature(response, ca.certificate)


def test_sha256_cert_id_is_answered_in_kind(ca: CertificateAuthority, user: Issued) -> None:
    der = respond(ca, _request(user.certificate, ca.certificate, algorithm=hashes.SHA256()), ca_signer(ca))
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert isinstance(response.hash_algorithm, hashes.SHA256)


def test_revoked_carries_time_and_reason(ca: CertificateAuthority) -> None:
    issued = ca.issue("rita@example.org", key_type="p256")
    ca.revoke(issued.record.serial, "superseded")
    response = ocsp.load_der_ocsp_response(respond(ca, _request(issued.certificate, ca.certificate), ca_signer(ca)))
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.superseded
    record = ca.find(issued.record.serial)
    assert record is not None and response.revocation_time_utc == record.revoked_at


def test_serial_never_issued_is_unknown(ca: CertificateAuthority) -> None:
    # Same CA name and key are needed for a matching CertID: forge a certificate with an unused serial.
    foreign = x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca.certificate.subject) \
        .public_key(ca.certificate.public_key()).serial_number(424242)  # type: ignore[arg-type]
    now = ca.certificate.not_valid_before_utc
    cert = foreign.not_valid_before(now).not_valid_after(now + timedelta(days=1)).sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    response = ocsp.load_der_ocsp_response(respond(ca, _request(cert, ca.certificate), ca_signer(ca)))
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_other_issuer_is_unauthorized(ca: CertificateAuthority, user: Issued,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    other = CertificateAuthority.create("Other", PASS, directory=tmp_path_factory.mktemp("other") / "ca",
                                        key_type="p256")
    theirs = other.issue("x@example.org", key_type="p256")
    response = ocsp.load_der_ocsp_response(respond(ca, _request(theirs.certificate, other.certificate),
                                                   ca_signer(ca)))
    assert response.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x00", b"not der at all" * 10])
def test_garbage_is_malformed_request(ca: CertificateAuthority, garbage: bytes) -> None:
    response = ocsp.load_der_ocsp_response(respond(ca, garbage, ca_signer(ca)))
    assert response.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_delegated_responder(ca: CertificateAuthority, user: Issued) -> None:
    signer = delegated_signer(ca)
    cert = signer.certificate
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    cert.verify_directly_issued_by(ca.certificate)
    response = ocsp.load_der_ocsp_response(respond(ca, _request(user.certificate, ca.certificate), signer))
    assert response.certificates == [cert]
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    _verify_signature(response, cert)


@pytest.fixture(scope="module")
def server(ca: CertificateAuthority) -> Iterator[str]:
    httpd = make_server(ca, ResponderSigner(ca.key, ca.certificate, False))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield f"http://{host!s}:{port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_server_binds_loopback_only(server: str) -> None:
    assert urllib.parse.urlsplit(server).hostname == "127.0.0.1"


def test_http_post(server: str, ca: CertificateAuthority, user: Issued) -> None:
    req = urllib.request.Request(server, data=_request(user.certificate, ca.certificate),
                                 headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.headers["Content-Type"] == "application/ocsp-response"
        response = ocsp.load_der_ocsp_response(reply.read())
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_http_get(server: str, ca: CertificateAuthority, user: Issued) -> None:
    encoded = urllib.parse.quote(base64.b64encode(_request(user.certificate, ca.certificate)).decode(), safe="")
    with urllib.request.urlopen(server + encoded, timeout=10) as reply:
        response = ocsp.load_der_ocsp_response(reply.read())
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_http_oversized_request_refused(server: str) -> None:
    req = urllib.request.Request(server, data=b"\x00" * (MAX_REQUEST_BYTES + 1))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 413

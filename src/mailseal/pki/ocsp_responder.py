"""An OCSP responder for the internal CA (RFC 6960), answering from the CA's own register over HTTP (Appendix A).

``respond`` turns one DER OCSPRequest into a DER OCSPResponse: ``good``, ``revoked`` (time and reason) or
``unknown`` for a serial the CA never issued (§2.2), ``unauthorized`` for another issuer (§2.3),
``malformedRequest`` for garbage; the nonce is echoed (§4.4.1); thisUpdate/nextUpdate are set (§4.2.2.1).
Responses are signed by the CA key, or by a delegated responder certificate carrying id-kp-OCSPSigning
(§4.2.2.2). ``serve`` runs it over HTTP POST and GET (Appendix A.1) on one address, loopback by default, with a
bounded request size; the register is read on every request, so a revocation shows at once.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from .authority import REASONS, CAKey, CertificateAuthority, signature_hash

log = logging.getLogger(__name__)

#: Largest request accepted: a single-certificate request with a nonce is ~100 bytes; 8 KiB leaves room for
#: signed requests carrying certificates, and bounds what one client can make the responder read.
MAX_REQUEST_BYTES = 8192
#: How long an answer may be cached (nextUpdate - thisUpdate).
DEFAULT_VALIDITY = timedelta(hours=1)
CONTENT_TYPE_REQUEST = "application/ocsp-request"
CONTENT_TYPE_RESPONSE = "application/ocsp-response"


@dataclass(frozen=True)
class ResponderSigner:
    """Who signs responses: the CA itself, or a delegated responder (key, certificate)."""

    key: CAKey
    certificate: x509.Certificate
    delegated: bool


def ca_signer(ca: CertificateAuthority) -> ResponderSigner:
    return ResponderSigner(ca.key, ca.certificate, False)


def delegated_signer(ca: CertificateAuthority, days: int = 2) -> ResponderSigner:
    key, cert = ca.ocsp_responder_certificate(days)
    return ResponderSigner(key, cert, True)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _issuer_hashes(ca: x509.Certificate, request: ocsp.OCSPRequest) -> tuple[bytes, bytes]:
    # The CA is self-signed, so a request "for the CA certificate issued by the CA" carries exactly the issuer
    # name and key hashes (RFC 6960 §4.1.1) a client computes for our users, with the client's hash algorithm.
    probe = ocsp.OCSPRequestBuilder().add_certificate(ca, ca, request.hash_algorithm).build()
    return probe.issuer_name_hash, probe.issuer_key_hash


def respond(
    ca: CertificateAuthority,
    request_der: bytes,
    signer: ResponderSigner,
    *,
    at: datetime | None = None,
    validity: timedelta = DEFAULT_VALIDITY,
) -> bytes:
    """The DER OCSPResponse for one DER OCSPRequest. Never raises for bad input: it answers an error status."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        # Touch the fields now: pyca parses some of them lazily and a bad encoding must be malformedRequest.
        serial, name_hash, key_hash = request.serial_number, request.issuer_name_hash, request.issuer_key_hash
        nonce: bytes | None = None
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                nonce = ext.value.nonce
    except Exception as exc:  # Any parse failure is the client's problem, never a crash of the responder.
        log.debug("malformed OCSP request: %s", exc)
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        if (name_hash, key_hash) != _issuer_hashes(ca.certificate, request):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        record = ca.find(serial)
        revocation_time: datetime | None = None
        reason: x509.ReasonFlags | None = None
        if record is None:
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif record.revoked_at is not None:
            status = ocsp.OCSPCertStatus.REVOKED
            revocation_time = record.revoked_at
            reason = REASONS.get(record.reason or "unspecified")
        else:
            status = ocsp.OCSPCertStatus.GOOD
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            name_hash, key_hash, serial, request.hash_algorithm, status, now, now + validity, revocation_time, reason
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
        if signer.delegated:
            builder = builder.certificates([signer.certificate])
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(signer.key, signature_hash(signer.key))
        return response.public_bytes(serialization.Encoding.DER)
    except Exception:
        log.exception("OCSP responder failure")
        return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)


def _handler(ca: CertificateAuthority, signer: ResponderSigner) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mailseal-ocsp"
        sys_version = ""
        timeout = 10  # seconds a client may take to send its request

        def _answer(self, body: bytes, code: int = 200, content_type: str = CONTENT_TYPE_RESPONSE) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self, code: int, text: str) -> None:
            self.close_connection = True
            self._answer(text.encode() + b"\n", code, "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            length_text = self.headers.get("Content-Length")
            if length_text is None or not length_text.isdigit():
                self._refuse(411, "Content-Length required")
                return
            length = int(length_text)
            if length > MAX_REQUEST_BYTES:
                self._refuse(413, "request too large")
                return
            self._answer(respond(ca, self.rfile.read(length), signer))

        def do_GET(self) -> None:
            # RFC 6960 A.1: GET {url}/{url-encoding of base64 of the DER request}.
            path = self.path.split("?", 1)[0].lstrip("/")
            if len(path) > 3 * MAX_REQUEST_BYTES:
                self._refuse(414, "request too large")
                return
            try:
                der = base64.b64decode(urllib.parse.unquote(path), validate=True)
            except (binascii.Error, ValueError):
                der = b""
            self._answer(respond(ca, der, signer))

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


class OCSPServer(ThreadingHTTPServer):
    daemon_threads = True


def make_server(ca: CertificateAuthority, signer: ResponderSigner, host: str = "127.0.0.1",
                port: int = 0) -> OCSPServer:
    """An HTTP server bound to ``host``:``port`` only (port 0 picks a free one: see ``server_address``)."""
    return OCSPServer((host, port), _handler(ca, signer))


def serve(ca: CertificateAuthority, signer: ResponderSigner, host: str = "127.0.0.1", port: int = 0,
          ready: Callable[[OCSPServer], None] | None = None, stop: threading.Event | None = None) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` is called once the socket listens."""
    with make_server(ca, signer, host, port) as server:
        if ready is not None:
            ready(server)
        if stop is None:
            server.serve_forever(poll_interval=0.2)
            return
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        stop.wait()
        server.shutdown()
        thread.join()


__all__ = [
    "CONTENT_TYPE_REQUEST",
    "CONTENT_TYPE_RESPONSE",
    "DEFAULT_VALIDITY",
    "MAX_REQUEST_BYTES",
    "OCSPServer",
    "ResponderSigner",
    "ca_signer",
    "delegated_signer",
    "make_server",
    "respond",
    "serve",
]

"""Real revocation servers on 127.0.0.1 for the tests: a CRL over HTTP and an OCSP responder (RFC 6960 §A.1).

Built from the session's test PKI (`tests.support.testpki.TestPKI`): the root CA issues end-entity certificates
whose CRL distribution point and AIA OCSP URL point at a local server, publishes CRLs with pyca's
`CertificateRevocationListBuilder`, and answers OCSP requests with pyca's `OCSPResponseBuilder`.

    with RevocationServer(RevocationCA(pki)) as server:
        user = server.ca.user("carol", crl=True, ocsp=True)
        server.ca.revoke(user.cert)
        ...                                      # server.hits["crl"], server.hits["ocsp"] count requests

`closed_port_url()` gives a URL on 127.0.0.1 where nothing listens (a responder that is down). Nothing here
ever talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from .testpki import TestPKI

__all__ = ["IssuedUser", "RevocationCA", "RevocationServer", "closed_port_url"]


@dataclass(frozen=True)
class IssuedUser:
    """An end entity issued by the revocation CA: key, certificate, its e-mail address."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    email: str


class RevocationCA:
    """The test PKI's root, issuing users with CDP/AIA extensions and publishing their revocation status."""

    def __init__(self, pki: TestPKI) -> None:
        self.pki = pki
        self.cert = pki.root_cert
        self.key = pki.root_key
        self.revoked: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def user(
        self,
        name: str,
        *,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        not_before: datetime | None = None,
    ) -> IssuedUser:
        """A P-256 signing certificate for NAME@example.org issued by the root, with the URLs given."""
        key = ec.generate_private_key(ec.SECP256R1())
        email = f"{name}@example.org"
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
                ),
                critical=False,
            )
        if ocsp_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                            x509.UniformResourceIdentifier(ocsp_url))]
                ),
                critical=False,
            )
        return IssuedUser(key, builder.sign(self.key, hashes.SHA256()), email)

    def revoke(self, cert: x509.Certificate, when: datetime | None = None) -> None:
        with self._lock:
            self.revoked[cert.serial_number] = when or datetime.now(UTC) - timedelta(hours=1)

    def crl(self, this_update: datetime | None = None, next_update: datetime | None = None) -> bytes:
        """A DER CRL of the revoked serials; by default valid from an hour ago for a day."""
        now = datetime.now(UTC)
        this_update = this_update or now - timedelta(hours=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(this_update)
            .next_update(next_update or this_update + timedelta(days=1))
            .add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        with self._lock:
            revoked = dict(self.revoked)
        for serial, when in revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        from cryptography.hazmat.primitives.serialization import Encoding

        return builder.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)

    def ocsp_response(self, request_der: bytes, subjects: dict[int, x509.Certificate]) -> bytes:
        """The CA's own signed answer (RFC 6960 §4.2) to a DER OCSPRequest; unauthorized for strangers."""
        from cryptography.hazmat.primitives.serialization import Encoding

        request = ocsp.load_der_ocsp_request(request_der)
        cert = subjects.get(request.serial_number)
        if cert is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
                Encoding.DER
            )
        now = datetime.now(UTC)
        with self._lock:
            revoked_at = self.revoked.get(cert.serial_number)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=cert,
            issuer=self.cert,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
            this_update=now - timedelta(minutes=5),
            next_update=now + timedelta(hours=1),
            revocation_time=revoked_at,
            revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.cert)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)


class RevocationServer:
    """An HTTP server on 127.0.0.1 serving ``GET /crl`` and ``POST /ocsp`` for a RevocationCA, in a thread."""

    def __init__(self, ca: RevocationCA) -> None:
        self.ca = ca
        self.hits: Counter[str] = Counter()
        self.crl_bytes: bytes | None = None  # None: a fresh CRL for every request
        self.subjects: dict[int, x509.Certificate] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/crl":
                    server.hits["crl"] += 1
                    self._send(200, "application/pkix-crl", server.crl_bytes or server.ca.crl())
                else:
                    server.hits["other"] += 1
                    self._send(404, "text/plain", b"not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path == "/ocsp":
                    server.hits["ocsp"] += 1
                    self._send(200, "application/ocsp-response", server.ca.ocsp_response(body, server.subjects))
                else:
                    server.hits["other"] += 1
                    self._send(404, "text/plain", b"not found")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def user(self, name: str, *, crl: bool = False, ocsp_: bool = False) -> IssuedUser:
        """A user whose CDP and/or OCSP URL point at this server (and whom the responder knows)."""
        issued = self.ca.user(name, crl_url=self.url("/crl") if crl else None,
                              ocsp_url=self.url("/ocsp") if ocsp_ else None)
        self.subjects[issued.cert.serial_number] = issued.cert
        return issued

    def __enter__(self) -> RevocationServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def closed_port_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 at a port nothing listens on (the port was bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"

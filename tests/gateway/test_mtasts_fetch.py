"""MTA-STS policies looked up for real: dnsmasq on 127.0.0.1 serves the ``_mta-sts`` TXT record and the policy
host's address, a local HTTPS server (certificate from the test PKI, trusted through ``mta_sts_ca_file``) serves
the policy; the cache keeps it for max_age and fetches again when the TXT id changes."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailseal.gateway.mtasts import MtaStsSettings, PolicyCache, violation
from tests.support.dnsserver import Dnsmasq, require_dnsmasq
from tests.support.testpki import TestPKI

DOMAIN = "example.org"
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmx: *.mail.example.org\r\nmax_age: 600\r\n"


def _server_files(pki: TestPKI, tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(pki.root_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(pki.root_key, hashes.SHA256()))
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class PolicyServer(ThreadingHTTPServer):
    body = POLICY.encode()
    content_type = "text/plain; charset=utf-8"
    status = 200
    location = ""
    hits = 0


class _Handler(BaseHTTPRequestHandler):
    server: PolicyServer

    def do_GET(self) -> None:
        srv = self.server
        srv.hits += 1
        if self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        self.send_response(srv.status)
        self.send_header("Content-Type", srv.content_type)
        if srv.location:
            self.send_header("Location", srv.location)
        self.send_header("Content-Length", str(len(srv.body)))
        self.end_headers()
        self.wfile.write(srv.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def policy_server(pki: TestPKI, tmp_path: Path) -> Iterator[PolicyServer]:
    cert, key = _server_files(pki, tmp_path, f"mta-sts.{DOMAIN}")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = PolicyServer(("127.0.0.1", 0), _Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _txt(ident: str) -> tuple[str, ...]:
    return (f"--txt-record=_mta-sts.{DOMAIN},v=STSv1; id={ident};", f"--host-record=mta-sts.{DOMAIN},127.0.0.1")


@pytest.fixture
def dns() -> Iterator[Dnsmasq]:
    server = Dnsmasq(require_dnsmasq(), {}, domains=(DOMAIN,), extra_args=_txt("20261207A"))
    server.start()
    yield server
    server.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _cache(dns: Dnsmasq, server: PolicyServer, pki: TestPKI, clock: Clock | None = None,
           **overrides: object) -> PolicyCache:
    fields: dict[str, object] = dict(enabled=True, nameserver=("127.0.0.1", dns.port), ca_file=pki.root_path,
                                     allowed_networks=("127.0.0.0/8",), timeout=5.0,
                                     policy_port=server.server_address[1])
    fields.update(overrides)
    return PolicyCache(MtaStsSettings(**fields), clock=clock or Clock())  # type: ignore[arg-type]


def test_a_policy_is_fetched_once_and_cached(dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI) -> None:
    cache = _cache(dns, policy_server, pki)
    policy = cache.lookup(DOMAIN)
    assert policy is not None and policy.mode == "enforce" and policy.id == "20261207A"
    assert policy.mx == ("mx.example.org", "*.mail.example.org") and policy.max_age == 600
    assert cache.lookup(DOMAIN.upper()) == policy
    assert policy_server.hits == 1 and cache.fetches == 1  # same TXT id, unexpired: no second fetch
    assert violation(policy, "a.mail.example.org", tls_verified=True) is None
    assert violation(policy, "relay.example.net", tls_verified=True) is not None


def test_a_new_txt_id_or_an_expired_max_age_fetches_again(dns: Dnsmasq, policy_server: PolicyServer,
                                                          pki: TestPKI) -> None:
    clock = Clock()
    cache = _cache(dns, policy_server, pki, clock)
    assert cache.lookup(DOMAIN) is not None
    policy_server.body = POLICY.replace("mode: enforce", "mode: testing").encode()
    assert cache.lookup(DOMAIN).mode == "enforce"  # type: ignore[union-attr]
    assert policy_server.hits == 1
    dns.stop()
    dns.extra_args = _txt("20261207B")
    dns.start()
    changed = cache.lookup(DOMAIN)
    assert changed is not None and changed.mode == "testing" and changed.id == "20261207B"
    assert policy_server.hits == 2
    clock.now += 599
    cache.lookup(DOMAIN)
    assert policy_server.hits == 2
    clock.now += 1  # max_age reached
    cache.lookup(DOMAIN)
    assert policy_server.hits == 3


def test_without_a_txt_record_the_cached_policy_stays_until_max_age(dns: Dnsmasq, policy_server: PolicyServer,
                                                                    pki: TestPKI) -> None:
    clock = Clock()
    cache = _cache(dns, policy_server, pki, clock)
    first = cache.lookup(DOMAIN)
    dns.stop()
    dns.extra_args = (f"--host-record=mta-sts.{DOMAIN},127.0.0.1",)
    dns.start()
    assert cache.lookup(DOMAIN) == first is not None
    dns.stop()  # the resolver is down: still the cached policy
    assert cache.lookup(DOMAIN) == first
    clock.now += 600
    assert cache.lookup(DOMAIN) is None
    assert policy_server.hits == 1


def test_a_domain_without_a_record_has_no_policy(dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI) -> None:
    assert _cache(dns, policy_server, pki).lookup("other.example.org") is None
    assert policy_server.hits == 0


def test_an_untrusted_policy_server_gives_no_policy(dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    cache = _cache(dns, policy_server, pki, ca_file=None)
    assert cache.lookup(DOMAIN) is None
    assert "policy not fetched" in caplog.text and "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_a_private_address_is_refused_unless_allowed(dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    assert _cache(dns, policy_server, pki, allowed_networks=()).lookup(DOMAIN) is None
    assert policy_server.hits == 0 and "not a public address" in caplog.text


@pytest.mark.parametrize("change, words", [
    ({"content_type": "text/html"}, "not text/plain"),
    ({"status": 302, "location": "https://elsewhere.example/"}, "redirects"),
    ({"status": 404}, "HTTP status 404"),
    ({"body": b"version: STSv1\nmode: enforce\nmax_age: 60\n"}, "no mx line"),
    ({"body": b"x" * 70000}, "limit of 65536"),
])
def test_a_bad_answer_gives_no_policy_and_keeps_the_cached_one(dns: Dnsmasq, policy_server: PolicyServer,
                                                              pki: TestPKI, caplog: pytest.LogCaptureFixture,
                                                              change: dict[str, object], words: str) -> None:
    cache = _cache(dns, policy_server, pki)
    for key, value in change.items():
        setattr(policy_server, key, value)
    assert cache.lookup(DOMAIN) is None
    assert words in caplog.text
    policy_server.body, policy_server.status, policy_server.content_type = POLICY.encode(), 200, "text/plain"
    policy_server.location = ""
    first = cache.lookup(DOMAIN)
    assert first is not None
    for key, value in change.items():
        setattr(policy_server, key, value)
    dns.stop()
    dns.extra_args = _txt("20261207C")
    dns.start()
    assert cache.lookup(DOMAIN) == first  # the new id's policy is bad: the unexpired one stands

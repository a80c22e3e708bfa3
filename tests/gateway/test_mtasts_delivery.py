"""MTA-STS policies looked up for real: dnsmasq on 127.0.0.1 serves the ``_mta-sts`` TXT record and the policy
host's address, a local HTTPS server (certificate from the test PKI, trusted through ``mta_sts_ca_file``) serves
the policy; the cache keeps it for max_age and fetches again when the TXT id changes. Then the relay applies it
to a real next hop (aiosmtpd with STARTTLS on 127.0.0.1, named ``localhost``): enforce mode needs an MX match and
a verified certificate, else the copy is deferred (4xx, not delivered); testing mode only logs."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailseal.gateway.mtasts import PolicyCache, violation
from mailseal.gateway.relay import Copy, DeliveryError, Journal, Relay
from mailseal.gateway.settings import MtaStsSettings, OutboundTls
from mailseal.store import events
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import message
from tests.support.dnsserver import Dnsmasq, require_dnsmasq
from tests.support.smtp_sink import SmtpSink, free_port
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

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that stops reading an oversized policy: expected, not worth a traceback


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


@contextlib.contextmanager
def _policy_server(pki: TestPKI, tmp_path: Path, domain: str) -> Iterator[PolicyServer]:
    cert, key = _server_files(pki, tmp_path, f"mta-sts.{domain}")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = PolicyServer(("127.0.0.1", 0), _Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def policy_server(pki: TestPKI, tmp_path: Path) -> Iterator[PolicyServer]:
    with _policy_server(pki, tmp_path, DOMAIN) as server:
        yield server


def _txt(ident: str, domain: str = DOMAIN) -> tuple[str, ...]:
    return (f"--txt-record=_mta-sts.{domain},v=STSv1; id={ident};", f"--host-record=mta-sts.{domain},127.0.0.1")


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


class _Collect:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def mx(pki: TestPKI, tmp_path: Path) -> Iterator[tuple[int, _Collect, ssl.SSLContext]]:
    """A next hop on 127.0.0.1 offering STARTTLS with a test-PKI certificate for ``localhost``."""
    cert, key = _server_files(pki, tmp_path, "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    handler, port = _Collect(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=ctx)
    controller.start()
    yield port, handler, ctx
    controller.stop()


def _deliver(relay: Relay, tmp_path: Path) -> None:
    path = tmp_path / "copy.eml"
    path.write_bytes(b"From: a@gw.example\r\nSubject: x\r\n\r\nhello\r\n")

    async def run() -> None:
        try:
            with path.open("rb") as f:
                await relay.deliver("a@gw.example", [Copy([f"b@{DOMAIN}"], f, "key-1")])
        finally:
            await relay.close()
    asyncio.run(run())


def _relay(dns: Dnsmasq, server: PolicyServer, pki: TestPKI, port: int, tmp_path: Path,
           ca_file: Path | None) -> Relay:
    tls = OutboundTls(mode="opportunistic", ca_file=ca_file, mta_sts=True, mta_sts_nameserver=("127.0.0.1", dns.port),
                      mta_sts_ca_file=pki.root_path, mta_sts_allowed_networks=("127.0.0.0/8",),
                      mta_sts_timeout_seconds=5.0, mta_sts_policy_port=server.server_address[1])
    return Relay("localhost", port, hostname="gw.example", tls=tls, timeout=10, journal=Journal(tmp_path / "j"))


def test_enforce_delivers_to_a_matching_mx_with_a_verified_certificate(
        dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI, tmp_path: Path,
        mx: tuple[int, _Collect, ssl.SSLContext]) -> None:
    policy_server.body = POLICY.replace("mx: mx.example.org", "mx: localhost").encode()
    _deliver(_relay(dns, policy_server, pki, mx[0], tmp_path, pki.root_path), tmp_path)
    assert mx[1].received == [("a@gw.example", [f"b@{DOMAIN}"])]


def test_enforce_defers_a_next_hop_that_is_not_an_mx_of_the_policy(
        dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        mx: tuple[int, _Collect, ssl.SSLContext]) -> None:
    with pytest.raises(DeliveryError, match="matches none of the policy's mx patterns") as info:
        _deliver(_relay(dns, policy_server, pki, mx[0], tmp_path, pki.root_path), tmp_path)
    assert not info.value.permanent and mx[1].received == []
    assert "mta-sts example.org (enforce)" in caplog.text and "deferred" in caplog.text


def test_enforce_defers_when_the_certificate_is_not_trusted(
        dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        mx: tuple[int, _Collect, ssl.SSLContext]) -> None:
    policy_server.body = POLICY.replace("mx: mx.example.org", "mx: localhost").encode()
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED") as info:
        _deliver(_relay(dns, policy_server, pki, mx[0], tmp_path, None), tmp_path)
    assert not info.value.permanent and mx[1].received == []
    assert "no verified STARTTLS with localhost" in caplog.text


def test_enforce_defers_when_the_next_hop_offers_no_starttls(
        dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    policy_server.body = POLICY.replace("mx: mx.example.org", "mx: localhost").encode()
    handler, port = _Collect(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(DeliveryError, match="does not offer STARTTLS") as info:
            _deliver(_relay(dns, policy_server, pki, port, tmp_path, pki.root_path), tmp_path)
    finally:
        controller.stop()
    assert not info.value.permanent and handler.received == []
    assert "no verified STARTTLS with localhost" in caplog.text


def test_testing_mode_logs_and_delivers(dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture,
                                        mx: tuple[int, _Collect, ssl.SSLContext]) -> None:
    policy_server.body = POLICY.replace("mode: enforce", "mode: testing").encode()
    _deliver(_relay(dns, policy_server, pki, mx[0], tmp_path, None), tmp_path)
    assert mx[1].received == [("a@gw.example", [f"b@{DOMAIN}"])]
    assert "mta-sts example.org (testing): the MX host localhost matches none" in caplog.text
    assert "mta-sts example.org (testing): no verified STARTTLS with localhost" in caplog.text
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and "delivered anyway" in caplog.text


def test_testing_mode_is_silent_when_the_delivery_complies(
        dns: Dnsmasq, policy_server: PolicyServer, pki: TestPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        mx: tuple[int, _Collect, ssl.SSLContext]) -> None:
    policy_server.body = POLICY.replace("mode: enforce", "mode: testing").replace(
        "mx: mx.example.org", "mx: localhost").encode()
    _deliver(_relay(dns, policy_server, pki, mx[0], tmp_path, pki.root_path), tmp_path)
    assert mx[1].received == [("a@gw.example", [f"b@{DOMAIN}"])]
    assert "(testing)" not in caplog.text


@pytest.mark.parametrize("mode", ["enforce", "testing"])
def test_the_gateway_defers_with_451_under_an_enforced_policy(start_gateway: StartGateway, sink: SmtpSink,
                                                             pki: TestPKI, tmp_path: Path, mode: str) -> None:
    """The whole gateway: carol's domain enforces a policy whose MX is not the next hop (the sink on 127.0.0.1):
    the sender hears 451 and the sink gets nothing; in testing mode the message goes through."""
    domain = "partner.example"
    dns = Dnsmasq(require_dnsmasq(), {}, domains=(domain,), extra_args=_txt("E1", domain))
    dns.start()
    try:
        with _policy_server(pki, tmp_path, domain) as server:
            server.body = POLICY.replace("mode: enforce", f"mode: {mode}").encode()
            gw = start_gateway({"gateway": {"outbound_tls": {
                "mta_sts": True, "mta_sts_nameserver": f"127.0.0.1:{dns.port}", "mta_sts_ca_file": str(pki.root_path),
                "mta_sts_allowed_networks": ["127.0.0.0/8"], "mta_sts_policy_port": server.server_address[1]}}})
            mail = message("alice@example.org", ["carol@partner.example"])
            if mode == "testing":
                gw.send(mail, "alice@example.org", ["carol@partner.example"])
                assert len(sink.wait_for(1)) == 1
                return
            with pytest.raises(smtplib.SMTPDataError) as info:
                gw.send(mail, "alice@example.org", ["carol@partner.example"])
            assert info.value.smtp_code == 451 and sink.messages == []
            gw.gateway.audit_writer.flush()
            (record,) = events(gw.store, action="gateway.message")
            assert record.detail["result"] == "deferred" and "MTA-STS policy of partner.example" in \
                record.detail["reason"]
    finally:
        dns.cleanup()

"""Standalone delivery (``next_hop = "mx"``) with real components on loopback: a signed zone served by a small
authority (tests/support/dnssec.py), dnsmasq validating it as the resolver, SMTP sinks with STARTTLS on 127.0.0.2
and up holding test-PKI certificates, and a local MTA-STS policy server. Each case has its own recipient domain.

A naive relay (deliver to the first MX that answers, opportunistic TLS without checks) would deliver every one of
the "deferred" cases below to the sink; the assertions show that the sink got nothing."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import gzip
import json
import smtplib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailseal.gateway.mxrelay import MxRelay
from mailseal.gateway.relay import Copy, DeliveryError, Journal
from mailseal.gateway.settings import DnsSettings, OutboundTls
from mailseal.gateway.tlsrpt import Sent, TlsReportBook, send_day
from mailseal.pki.dane import association
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import message
from tests.gateway.test_mtasts_delivery import PolicyServer, _Handler
from tests.support.dnssec import DnsAuthority, ValidatingDnsmasq, Zone, free_port_udp_tcp
from tests.support.servercerts import ServerCert, server_cert
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

POLICY = "version: STSv1\nmode: enforce\nmx: mx-sts.plain.dane.test\nmax_age: 600\n"


@dataclass
class Sink:
    """An SMTP server on one loopback address, with or without STARTTLS; records (mail from, rcpts, over TLS)."""

    address: str
    port: int
    cert: ServerCert | None
    received: list[tuple[str, list[str], bool]] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)  # the server names the clients asked for
    controller: Controller | None = None

    async def handle_DATA(self, server: object, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), session.ssl is not None))
        self.contents.append(bytes(envelope.original_content or envelope.content))
        return "250 OK"

    def start(self) -> None:
        ctx = None
        if self.cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert.cert_file, self.cert.key_file)
            ctx.sni_callback = lambda _obj, name, _ctx: self.sni.append(name)  # type: ignore[assignment,misc]
        self.controller = Controller(self, hostname=self.address, port=self.port, tls_context=ctx)
        self.controller.start()


@dataclass
class World:
    dns_port: int
    mx_port: int
    policy_port: int
    sinks: dict[str, Sink]
    root: Path
    policy: PolicyServer

    def tls(self, **kw: Any) -> OutboundTls:
        fields: dict[str, Any] = dict(mode="opportunistic", ca_file=self.root, mta_sts=True,
                                      mta_sts_nameserver=("127.0.0.1", self.dns_port), mta_sts_ca_file=self.root,
                                      mta_sts_allowed_networks=("127.0.0.0/8",), mta_sts_timeout_seconds=5.0,
                                      mta_sts_policy_port=self.policy_port)
        fields.update(kw)
        return OutboundTls(**fields)

    def dns(self, dane: bool = True) -> DnsSettings:
        return DnsSettings(resolver=("127.0.0.1", self.dns_port), dane=dane, timeout_seconds=5.0, mx_port=self.mx_port)

    def clear(self) -> None:
        for sink in self.sinks.values():
            sink.received.clear()
            sink.contents.clear()
            sink.sni.clear()


def _tlsa(usage: int, selector: int, mtype: int, data: bytes) -> str:
    return f"TLSA {usage} {selector} {mtype} {data.hex()}"


@pytest.fixture(scope="module")
def world(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("standalone")
    certs = {
        "ee": server_cert(pki, tmp, ["mx-ee.dane.test"], issuer="self", days=(-30, -1)),  # DANE-EE: dates ignored
        "bad": server_cert(pki, tmp, ["mx-bad.dane.test"]),
        "ta": server_cert(pki, tmp, ["mx-ta.dane.test"]),
        "plain": server_cert(pki, tmp, ["mx.plain.dane.test"], issuer="self"),
        "other": server_cert(pki, tmp, ["mx-other.plain.dane.test"], issuer="self"),
        "sts": server_cert(pki, tmp, ["mx-sts.plain.dane.test"]),
        "named": server_cert(pki, tmp, ["mx-named.dane.test"]),  # the alias's name, not the target's
    }
    unrelated = server_cert(pki, tmp, ["unrelated.example"], issuer="self")
    ee_spki = association(certs["ee"].cert, 1, 1)
    signed = Zone("dane.test.", f"""
@ 300 IN SOA ns.dane.test. admin.dane.test. 1 3600 600 86400 300
@ 300 IN NS ns.dane.test.
ns 300 IN A 127.0.0.1
mx-ee 300 IN A 127.0.0.2
_25._tcp.mx-ee 300 IN {_tlsa(3, 1, 1, ee_spki)}
mx-bad 300 IN A 127.0.0.3
_25._tcp.mx-bad 300 IN {_tlsa(3, 1, 1, association(unrelated.cert, 1, 1))}
mx-ta 300 IN A 127.0.0.4
_25._tcp.mx-ta 300 IN {_tlsa(2, 0, 1, association(pki.intermediate_cert, 0, 1))}
_25._tcp.mx-ta 300 IN {_tlsa(1, 1, 1, bytes(32))}
mx-ta2 300 IN A 127.0.0.3
_25._tcp.mx-ta2 300 IN {_tlsa(2, 0, 1, association(pki.intermediate_cert, 0, 1))}
mx-notls 300 IN A 127.0.0.5
_25._tcp.mx-notls 300 IN {_tlsa(3, 1, 1, ee_spki)}
mx-down 300 IN A 127.0.0.7
mx-tbogus 300 IN A 127.0.0.2
_25._tcp.mx-tbogus 300 IN {_tlsa(3, 1, 1, ee_spki)}
mx-pkix 300 IN A 127.0.0.5
_25._tcp.mx-pkix 300 IN {_tlsa(1, 1, 1, ee_spki)}
implicit 300 IN A 127.0.0.2
_25._tcp.implicit 300 IN {_tlsa(3, 1, 1, ee_spki)}
implicitbad 300 IN A 127.0.0.3
_25._tcp.implicitbad 300 IN {_tlsa(3, 1, 1, ee_spki)}
ee 300 IN MX 10 mx-ee.dane.test.
mismatch 300 IN MX 10 mx-bad.dane.test.
ta 300 IN MX 10 mx-ta.dane.test.
notls 300 IN MX 10 mx-notls.dane.test.
taname 300 IN MX 10 mx-ta2.dane.test.
pkixonly 300 IN MX 10 mx-pkix.dane.test.
tlsabogus 300 IN MX 10 mx-tbogus.dane.test.
loop 300 IN MX 10 gw.example.
loop2 300 IN MX 5 mx-ee.dane.test.
loop2 300 IN MX 10 gw.example.
loop2 300 IN MX 20 mx-ta.dane.test.
bogus 300 IN MX 10 mx-ee.dane.test.
null 300 IN MX 0 .
pref 300 IN MX 20 mx-ta.dane.test.
pref 300 IN MX 10 mx-ee.dane.test.
fallback 300 IN MX 5 mx-down.dane.test.
fallback 300 IN MX 10 mx-bad.dane.test.
fallback 300 IN MX 20 mx-ta.dane.test.
prec 300 IN MX 10 mx-ee.dane.test.
mx-alias-ta 300 IN CNAME mx-ta.dane.test.
aliasta 300 IN MX 10 mx-alias-ta.dane.test.
mx-alias-bad 300 IN CNAME mx-bad.dane.test.
aliasbad 300 IN MX 10 mx-alias-bad.dane.test.
mx-named 300 IN CNAME mx-target.dane.test.
mx-target 300 IN A 127.0.0.10
_25._tcp.mx-target 300 IN {_tlsa(2, 0, 1, association(pki.intermediate_cert, 0, 1))}
aliasnamed 300 IN MX 10 mx-named.dane.test.
mx-alias-name 300 IN CNAME mx-ta2.dane.test.
aliasname 300 IN MX 10 mx-alias-name.dane.test.
mx-notlsa 300 IN A 127.0.0.2
mx-init 300 IN CNAME mx-notlsa.dane.test.
_25._tcp.mx-init 300 IN {_tlsa(3, 1, 1, ee_spki)}
aliasinit 300 IN MX 10 mx-init.dane.test.
mx-initbad 300 IN CNAME mx-notlsa.dane.test.
_25._tcp.mx-initbad 300 IN {_tlsa(3, 1, 1, association(unrelated.cert, 1, 1))}
aliasinitbad 300 IN MX 10 mx-initbad.dane.test.
insecurealias 300 IN MX 10 alias.plain.dane.test.
rpt 300 IN MX 10 mx-bad.dane.test.
rpt 300 IN MX 20 mx-ee.dane.test.
_smtp._tls.rpt 300 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@reports.plain.dane.test,https://reports.example/tlsrpt"
_mta-sts.prec 300 IN TXT "v=STSv1; id=p1;"
mta-sts.prec 300 IN A 127.0.0.1
plain 300 IN NS ns.plain.dane.test.
ns.plain 300 IN A 127.0.0.1
""", signed=True)
    signed.break_signature("bogus", "MX")
    signed.break_signature("_25._tcp.mx-tbogus", "TLSA")
    unsigned = Zone("plain.dane.test.", """
@ 300 IN SOA ns.plain.dane.test. admin.dane.test. 1 3600 600 86400 300
@ 300 IN NS ns.plain.dane.test.
ns 300 IN A 127.0.0.1
@ 300 IN MX 10 mx.plain.dane.test.
mx 300 IN A 127.0.0.6
sts 300 IN MX 10 mx-other.plain.dane.test.
sts 300 IN MX 20 mx-sts.plain.dane.test.
mx-other 300 IN A 127.0.0.8
mx-sts 300 IN A 127.0.0.9
_mta-sts.sts 300 IN TXT "v=STSv1; id=s1;"
alias 300 IN CNAME mx-bad.dane.test.
reports 300 IN MX 10 mx.plain.dane.test.
mta-sts.sts 300 IN A 127.0.0.1
""", signed=False)
    root = Zone(".", f"""
@ 300 IN SOA ns.dane.test. admin.dane.test. 1 3600 600 86400 300
@ 300 IN NS ns.dane.test.
dane.test. 300 IN NS ns.dane.test.
dane.test. 300 IN DS {signed.ds.to_text() if signed.ds else ""}
ns.dane.test. 300 IN A 127.0.0.1
""", signed=True)
    authority = DnsAuthority([root, signed, unsigned])
    resolver = ValidatingDnsmasq(authority.port, [""], [root.trust_anchor()])
    policy_cert = server_cert(pki, tmp, ["mta-sts.prec.dane.test", "mta-sts.sts.plain.dane.test"], issuer="root")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(policy_cert.cert_file, policy_cert.key_file)
    policy = PolicyServer(("127.0.0.1", 0), _Handler)
    policy.body = POLICY.encode()
    policy.socket = ctx.wrap_socket(policy.socket, server_side=True)
    threading.Thread(target=policy.serve_forever, daemon=True).start()
    port = free_port_udp_tcp("127.0.0.2")
    sinks = {"ee": Sink("127.0.0.2", port, certs["ee"]), "bad": Sink("127.0.0.3", port, certs["bad"]),
             "ta": Sink("127.0.0.4", port, certs["ta"]), "notls": Sink("127.0.0.5", port, None),
             "plain": Sink("127.0.0.6", port, certs["plain"]), "other": Sink("127.0.0.8", port, certs["other"]),
             "sts": Sink("127.0.0.9", port, certs["sts"]), "named": Sink("127.0.0.10", port, certs["named"])}
    try:
        resolver.start()
        for sink in sinks.values():
            sink.start()
        yield World(resolver.port, port, int(policy.server_address[1]), sinks, pki.root_path, policy)
    finally:
        for sink in sinks.values():
            if sink.controller is not None:
                with contextlib.suppress(Exception):
                    sink.controller.stop()
        policy.shutdown()
        policy.server_close()
        resolver.stop()
        authority.stop()


def _deliver(world: World, tmp_path: Path, rcpts: list[str], dane: bool = True,
             reports: TlsReportBook | None = None, **tls: Any) -> int:
    world.clear()
    path = tmp_path / "copy.eml"
    path.write_bytes(b"From: a@gw.example\r\nSubject: x\r\n\r\nhello\r\n")
    relay = MxRelay(hostname="gw.example", tls=world.tls(**tls), dns=world.dns(dane), timeout=10,
                    journal=Journal(tmp_path / "journal"), reports=reports)

    async def run() -> int:
        try:
            with path.open("rb") as f:
                return await relay.deliver("a@gw.example", [Copy(rcpts, f, f"key-{'-'.join(rcpts)}")])
        finally:
            await relay.close()
    return asyncio.run(run())


def _deferred(world: World, tmp_path: Path, rcpt: str, **kw: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        _deliver(world, tmp_path, [rcpt], **kw)
    assert all(not s.received for s in world.sinks.values())
    return info.value


def test_dane_ee_match_delivers_over_tls(world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The certificate is self-signed and expired: DANE-EE pins the key, nothing else matters (RFC 7672 §3.1.1).
    assert _deliver(world, tmp_path, ["bob@ee.dane.test"]) == 1
    assert world.sinks["ee"].received == [("a@gw.example", ["bob@ee.dane.test"], True)]


def test_dane_ee_mismatch_defers_with_4_7_5(world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    error = _deferred(world, tmp_path, "bob@mismatch.dane.test")
    assert not error.permanent and error.reply is not None and error.reply.startswith("451 4.7.5")
    assert "matches none of the TLSA records" in error.message
    assert "dane mx-bad.dane.test[127.0.0.3]: the server's certificate chain matches none" in caplog.text


def test_dane_ta_match_delivers(world: World, tmp_path: Path) -> None:
    # The TLSA RRset also holds a PKIX-EE record: unusable for SMTP, ignored (RFC 7672 §3.1.3).
    _deliver(world, tmp_path, ["bob@ta.dane.test"])
    assert world.sinks["ta"].received == [("a@gw.example", ["bob@ta.dane.test"], True)]


def test_dane_ta_checks_the_name(world: World, tmp_path: Path) -> None:
    # mx-ta2's server holds a certificate from the same anchor, but for mx-bad.dane.test (RFC 7672 §3.2.2).
    error = _deferred(world, tmp_path, "bob@taname.dane.test")
    assert error.reply is not None and error.reply.startswith("451 4.7.5") and "checks the name" in error.message


def test_tlsa_without_starttls_defers(world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    error = _deferred(world, tmp_path, "bob@notls.dane.test")
    assert error.reply is not None and error.reply.startswith("451 4.7.5") and "no STARTTLS offered" in error.message
    assert "dane mx-notls.dane.test[127.0.0.5]" in caplog.text


def test_only_unusable_tlsa_records_still_make_starttls_mandatory(world: World, tmp_path: Path) -> None:
    # A PKIX-EE record alone: TLS required, not authenticated (RFC 7672 §2.2); this server offers no STARTTLS.
    error = _deferred(world, tmp_path, "bob@pkixonly.dane.test")
    assert error.reply is not None and error.reply.startswith("451 4.7.5") and "no STARTTLS offered" in error.message


def test_implicit_mx_with_tlsa_records(world: World, tmp_path: Path) -> None:
    # No MX records: the domain is its own MX (RFC 5321 §5.1) and its TLSA records apply at _25._tcp.DOMAIN.
    _deliver(world, tmp_path, ["bob@implicit.dane.test"])
    assert world.sinks["ee"].received == [("a@gw.example", ["bob@implicit.dane.test"], True)]
    error = _deferred(world, tmp_path, "bob@implicitbad.dane.test")
    assert error.reply is not None and error.reply.startswith("451 4.7.5")


def test_unsigned_zone_is_opportunistic(world: World, tmp_path: Path) -> None:
    # Self-signed certificate, no TLSA (and none could be trusted): encrypted, not authenticated (RFC 7435).
    _deliver(world, tmp_path, ["bob@plain.dane.test"])
    assert world.sinks["plain"].received == [("a@gw.example", ["bob@plain.dane.test"], True)]


def test_bogus_signature_defers(world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    error = _deferred(world, tmp_path, "bob@bogus.dane.test")
    assert not error.permanent and error.reply is not None and error.reply.startswith("451 4.4.3")
    assert "SERVFAIL" in error.message


def test_bogus_tlsa_records_make_the_host_unusable(world: World, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # Secure MX and address, TLSA answer SERVFAIL: never downgraded to opportunistic TLS (RFC 7672 §2.2).
    error = _deferred(world, tmp_path, "bob@tlsabogus.dane.test")
    assert error.reply is not None and error.reply.startswith("451 4.7.5") and "TLSA lookup failed" in error.message


def test_null_mx_is_a_permanent_failure(world: World, tmp_path: Path) -> None:
    error = _deferred(world, tmp_path, "bob@null.dane.test")
    assert error.permanent and error.reply is not None and error.reply.startswith("556 5.1.10")


def test_a_domain_that_does_not_exist_is_a_permanent_failure(world: World, tmp_path: Path) -> None:
    error = _deferred(world, tmp_path, "bob@nowhere.dane.test")
    assert error.permanent and error.reply is not None and error.reply.startswith("550 5.1.2")


def test_a_domain_whose_best_mx_is_this_gateway_is_a_loop(world: World, tmp_path: Path) -> None:
    error = _deferred(world, tmp_path, "bob@loop.dane.test")  # the relay's hostname is gw.example
    assert error.permanent and error.reply is not None and error.reply.startswith("554 5.4.6")


def test_only_mx_hosts_preferred_to_this_gateway_are_used(world: World, tmp_path: Path) -> None:
    world.sinks["ee"].controller.stop()  # type: ignore[union-attr]
    try:
        # mx-ee (5) is down; gw.example (10) is this gateway, so mx-ta (20) must not be tried (RFC 5321 §5.1).
        error = _deferred(world, tmp_path, "bob@loop2.dane.test")
    finally:
        world.sinks["ee"].start()
    assert not error.permanent and error.reply is not None and error.reply.startswith("451 4.4.1")
    _deliver(world, tmp_path, ["bob@loop2.dane.test"])
    assert world.sinks["ee"].received and not world.sinks["ta"].received


def test_mx_preference_is_followed(world: World, tmp_path: Path) -> None:
    _deliver(world, tmp_path, ["bob@pref.dane.test"])
    assert world.sinks["ee"].received and not world.sinks["ta"].received


def test_fallback_past_a_dead_mx_and_a_dane_mismatch(world: World, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    _deliver(world, tmp_path, ["bob@fallback.dane.test"])
    assert world.sinks["ta"].received == [("a@gw.example", ["bob@fallback.dane.test"], True)]
    assert not world.sinks["bad"].received
    assert "mx-down.dane.test[127.0.0.7]" in caplog.text and "dane mx-bad.dane.test[127.0.0.3]" in caplog.text


def test_without_dane_the_tlsa_records_are_not_trusted(world: World, tmp_path: Path) -> None:
    # dane = false: the AD bit is not trusted, so the mismatching host gets the copy over opportunistic TLS.
    _deliver(world, tmp_path, ["bob@mismatch.dane.test"], dane=False)
    assert world.sinks["bad"].received == [("a@gw.example", ["bob@mismatch.dane.test"], True)]


def test_mta_sts_enforce_skips_an_mx_outside_the_policy(world: World, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    _deliver(world, tmp_path, ["bob@sts.plain.dane.test"])
    assert world.sinks["sts"].received == [("a@gw.example", ["bob@sts.plain.dane.test"], True)]
    assert not world.sinks["other"].received
    assert "mta-sts sts.plain.dane.test (enforce): the MX host mx-other.plain.dane.test matches none" in caplog.text


def test_mta_sts_enforce_defers_without_a_valid_certificate(world: World, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    error = _deferred(world, tmp_path, "bob@sts.plain.dane.test", ca_file=None)  # the test root is not trusted
    assert error.reply is not None and error.reply.startswith("451 4.7.5")
    assert "CERTIFICATE_VERIFY_FAILED" in error.message
    assert "mta-sts sts.plain.dane.test (enforce) mx-sts.plain.dane.test[127.0.0.9]" in caplog.text


def test_mta_sts_testing_logs_and_delivers(world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    world.policy.body = POLICY.replace("enforce", "testing").encode()
    try:
        _deliver(world, tmp_path, ["bob@sts.plain.dane.test"])
    finally:
        world.policy.body = POLICY.encode()
    # The first MX is outside the policy and its certificate self-signed: logged twice, delivered anyway.
    assert world.sinks["other"].received == [("a@gw.example", ["bob@sts.plain.dane.test"], True)]
    assert "mta-sts sts.plain.dane.test (testing): the MX host mx-other.plain.dane.test matches none" in caplog.text
    assert "mta-sts sts.plain.dane.test (testing): no verified STARTTLS with mx-other.plain.dane.test" in caplog.text


def test_dane_takes_precedence_over_mta_sts(world: World, tmp_path: Path) -> None:
    # prec.dane.test's policy names only mx-sts.plain.dane.test, but its MX has secure TLSA records (RFC 8461 §2).
    _deliver(world, tmp_path, ["bob@prec.dane.test"])
    assert world.sinks["ee"].received == [("a@gw.example", ["bob@prec.dane.test"], True)]


def test_tlsa_at_the_end_of_a_secure_cname_chain(world: World, tmp_path: Path) -> None:
    # mx-alias-bad is a CNAME for mx-bad, whose TLSA record pins another key: the expanded name's records apply
    # (RFC 7672 §2.2.2). A relay asking only _25._tcp.mx-alias-bad (no records there) would deliver in clear TLS.
    error = _deferred(world, tmp_path, "bob@aliasbad.dane.test")
    assert error.reply is not None and error.reply.startswith("451 4.7.5")
    assert "matches none of the TLSA records (TLSA base domain mx-bad.dane.test)" in error.message
    # The same through a CNAME to mx-ta: DANE-TA, the certificate names the expanded name.
    _deliver(world, tmp_path, ["bob@aliasta.dane.test"])
    assert world.sinks["ta"].received == [("a@gw.example", ["bob@aliasta.dane.test"], True)]
    assert world.sinks["ta"].sni == ["mx-ta.dane.test"]  # SNI names the TLSA base domain (RFC 7672 §8.1)


def test_dane_ta_accepts_the_original_name_and_no_other(world: World, tmp_path: Path) -> None:
    # mx-named -> mx-target (TLSA DANE-TA there): the certificate names mx-named only, the original MX host name,
    # one of the reference names (RFC 7672 §3.2.2).
    _deliver(world, tmp_path, ["bob@aliasnamed.dane.test"])
    assert world.sinks["named"].received == [("a@gw.example", ["bob@aliasnamed.dane.test"], True)]
    # mx-alias-name -> mx-ta2, whose server's certificate names mx-bad.dane.test: neither name, refused.
    error = _deferred(world, tmp_path, "bob@aliasname.dane.test")
    assert "checks the name" in error.message and "mx-ta2.dane.test or mx-alias-name.dane.test" in error.message


def test_tlsa_at_the_original_name_when_the_expanded_name_has_none(world: World, tmp_path: Path) -> None:
    # mx-init -> mx-notlsa (no TLSA records, a secure denial): the records at _25._tcp.mx-init apply.
    _deliver(world, tmp_path, ["bob@aliasinit.dane.test"])
    assert world.sinks["ee"].received == [("a@gw.example", ["bob@aliasinit.dane.test"], True)]
    assert world.sinks["ee"].sni == ["mx-init.dane.test"]  # the base domain is the original name here
    error = _deferred(world, tmp_path, "bob@aliasinitbad.dane.test")  # the same, with a record for another key
    assert error.reply is not None and error.reply.startswith("451 4.7.5")
    assert "(TLSA base domain mx-initbad.dane.test)" not in error.message and "matches none" in error.message


def test_an_insecure_cname_means_no_dane(world: World, tmp_path: Path) -> None:
    # The MX host alias.plain.dane.test (an unsigned zone) is a CNAME for mx-bad.dane.test (signed, with a TLSA
    # record that mx-bad's certificate does not match). The chain is insecure, so DANE does not apply and the copy
    # goes over opportunistic TLS; a relay looking up TLSA at the secure expanded name would refuse it.
    _deliver(world, tmp_path, ["bob@insecurealias.dane.test"])
    assert world.sinks["bad"].received == [("a@gw.example", ["bob@insecurealias.dane.test"], True)]


def test_a_day_of_tls_sessions_is_reported_to_the_domains_rua(world: World, tmp_path: Path) -> None:
    """RFC 8460: rpt.dane.test's first MX fails DANE, its second succeeds; the next day's report, mailed through
    the gateway's relay to the mailto: address of _smtp._tls.rpt.dane.test, counts one failure and two successes."""
    book = TlsReportBook(tmp_path / "tlsrpt")
    _deliver(world, tmp_path, ["bob@rpt.dane.test"], reports=book)  # mx-bad: DANE mismatch; mx-ee: delivered
    world.sinks["bad"].controller.stop()  # type: ignore[union-attr]
    try:
        _deliver(world, tmp_path, ["carol@rpt.dane.test"], reports=book)  # mx-bad refuses to connect: no session
    finally:
        world.sinks["bad"].start()
    assert len(world.sinks["ee"].received) == 1
    day = datetime.now(UTC).date()
    assert book.domains(day) == ["rpt.dane.test"]
    world.clear()
    relay = MxRelay(hostname="gw.example", tls=world.tls(), dns=world.dns(), timeout=10,
                    journal=Journal(tmp_path / "journal"))

    async def send() -> list[Sent]:
        try:
            return await send_day(book, day, relay, relay.lookup, "gw.example")
        finally:
            await relay.close()
    results = asyncio.run(send())
    assert [(r.rua, r.outcome) for r in results] == [
        ("tls-reports@reports.plain.dane.test", "sent"),
        ("https://reports.example/tlsrpt", "not sent: only mailto: report addresses are built")]
    (mail_from, rcpts, _), = world.sinks["plain"].received
    assert mail_from == "tlsrpt-noreply@gw.example" and rcpts == ["tls-reports@reports.plain.dane.test"]
    mail = email.message_from_bytes(world.sinks["plain"].contents[0], policy=email.policy.default)
    assert mail.get_content_type() == "multipart/report" and mail.get_param("report-type") == "tlsrpt"
    assert mail["TLS-Report-Domain"] == "rpt.dane.test" and mail["TLS-Report-Submitter"] == "gw.example"
    (attachment,) = [p for p in mail.iter_attachments() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert (attachment.get_filename() or "").startswith("gw.example!rpt.dane.test!")
    body = json.loads(gzip.decompress(attachment.get_payload(decode=True)))  # type: ignore[arg-type]
    start = f"{day.isoformat()}T00:00:00Z"
    assert body["date-range"] == {"start-datetime": start, "end-datetime": f"{day.isoformat()}T23:59:59Z"}
    assert body["organization-name"] == "gw.example" and body["report-id"].endswith("@gw.example")
    by_string = {p["policy"]["policy-string"][0]: p for p in body["policies"]}
    ee = by_string[f"3 1 1 {association(world.sinks['ee'].cert.cert, 1, 1).hex()}"]  # type: ignore[union-attr]
    assert ee["policy"]["policy-type"] == "tlsa" and ee["policy"]["policy-domain"] == "rpt.dane.test"
    assert ee["summary"] == {"total-successful-session-count": 2, "total-failure-session-count": 0}
    (bad,) = [p for p in body["policies"] if p is not ee]
    assert bad["summary"] == {"total-successful-session-count": 0, "total-failure-session-count": 1}
    (detail,) = bad["failure-details"]
    assert detail["result-type"] == "validation-failure" and detail["failed-session-count"] == 1
    assert detail["receiving-mx-hostname"] == "mx-bad.dane.test" and detail["receiving-ip"] == "127.0.0.3"
    # Sent once: asking again sends nothing.
    relay = MxRelay(hostname="gw.example", tls=world.tls(), dns=world.dns(), timeout=10,
                    journal=Journal(tmp_path / "journal"))
    assert [r.outcome for r in asyncio.run(send())] == ["already sent"]


def test_a_copy_for_two_domains_goes_to_each_mx(world: World, tmp_path: Path) -> None:
    assert _deliver(world, tmp_path, ["bob@ee.dane.test", "carol@ta.dane.test"]) == 2
    assert world.sinks["ee"].received == [("a@gw.example", ["bob@ee.dane.test"], True)]
    assert world.sinks["ta"].received == [("a@gw.example", ["carol@ta.dane.test"], True)]


def test_the_gateway_answers_per_domain(world: World, start_gateway: StartGateway) -> None:
    """The whole gateway in standalone mode: a second domain's RCPT gets 452 4.5.3 (sent later in its own
    transaction); DANE-EE delivers with 250; a mismatch gives 451 4.7.5; a null MX 556 5.1.10."""
    world.clear()
    gw = start_gateway({"gateway": {"next_hop": "mx", "outbound_tls": {"ca_file": str(world.root)}, "dns": {
        "resolver": f"127.0.0.1:{world.dns_port}", "dane": True, "timeout_seconds": 5, "mx_port": world.mx_port}}})
    mail = message("alice@example.org", ["bob@ee.dane.test", "carol@ta.dane.test"])
    refused = gw.send(mail, "alice@example.org", ["bob@ee.dane.test", "carol@ta.dane.test"])
    assert refused == {"carol@ta.dane.test": (452, b"4.5.3 One recipient domain per message here: send to this one "
                                                     b"in another")}
    assert [r[1] for r in world.sinks["ee"].received] == [["bob@ee.dane.test"]] and not world.sinks["ta"].received
    gw.send(mail, "alice@example.org", ["carol@ta.dane.test"])
    assert [r[1] for r in world.sinks["ta"].received] == [["carol@ta.dane.test"]]
    for rcpt, code, enhanced in (("bob@mismatch.dane.test", 451, b"4.7.5"), ("bob@null.dane.test", 556, b"5.1.10")):
        with pytest.raises(smtplib.SMTPDataError) as info:
            gw.send(message("alice@example.org", [rcpt]), "alice@example.org", [rcpt])
        assert info.value.smtp_code == code and info.value.smtp_error.startswith(enhanced)
    assert not world.sinks["bad"].received


def test_local_next_hop_takes_the_accepted_domains(world: World, start_gateway: StartGateway, sink: SmtpSink) -> None:
    """Standalone with ``local_next_hop``: mail for the accepted domains (example.org, subdomains too) goes to the
    next hop (the sink on 127.0.0.1), mail for the others to their MX; a transaction holds one of these routes."""
    world.clear()
    gw = start_gateway({"gateway": {
        "next_hop": "mx", "local_next_hop": f"{sink.address[0]}:{sink.address[1]}",
        "accepted_domains": ["example.org", "*.example.org"],
        "dns": {"resolver": f"127.0.0.1:{world.dns_port}", "dane": True, "timeout_seconds": 5,
                "mx_port": world.mx_port}}})
    inside = ["bob@example.org", "carol@lab.example.org"]
    refused = gw.send(message("dave@ee.dane.test", inside), "dave@ee.dane.test", [*inside, "erin@ee.dane.test"])
    assert list(refused) == ["erin@ee.dane.test"] and refused["erin@ee.dane.test"][0] == 452
    received = sink.messages  # the pipeline may make a copy per recipient; each went to the local next hop
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(inside)
    gw.send(message("alice@example.org", ["erin@ee.dane.test"]), "alice@example.org", ["erin@ee.dane.test"])
    assert [r[1] for r in world.sinks["ee"].received] == [["erin@ee.dane.test"]]
    assert len(sink.messages) == len(received)

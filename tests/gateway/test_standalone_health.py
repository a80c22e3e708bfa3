"""Health in standalone delivery (gateway/heartbeat.py, gateway/health.py): with no next hop, the DNS resolver is
probed (``. DNSKEY`` with DO set; with DANE the answer must carry AD) and the ``local_next_hop`` when set. A signed
root zone served by the test authority, dnsmasq validating it, the same dnsmasq not validating, and one
validating with a wrong trust anchor.

A naive probe (does the resolver answer at all?) would call the non-validating resolver healthy, and DANE would
silently stop applying: every answer would come back without AD, so insecure."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mailseal.gateway.heartbeat import Heartbeat
from mailseal.gateway.mxlookup import SecureLookup
from mailseal.gateway.settings import DnsSettings
from mailseal.store.nodes import nodes
from tests.gateway.conftest import StartGateway
from tests.support.dnssec import DnsAuthority, ValidatingDnsmasq, Zone
from tests.support.smtp_sink import SmtpSink, free_port

ROOT = """
@ 300 IN SOA ns.root-servers.test. admin.root-servers.test. 1 3600 600 86400 300
@ 300 IN NS ns.root-servers.test.
ns.root-servers.test. 300 IN A 127.0.0.1
"""


@dataclass
class Resolvers:
    validating: int
    plain: int
    wrong_anchor: int


@pytest.fixture(scope="module")
def resolvers() -> Iterator[Resolvers]:
    root = Zone(".", ROOT, signed=True)
    other = Zone(".", ROOT, signed=True)  # another key: its anchor does not match what the authority serves
    authority = DnsAuthority([root])
    started = [ValidatingDnsmasq(authority.port, [""], [root.trust_anchor()]),
               ValidatingDnsmasq(authority.port, [""], [], validate=False),
               ValidatingDnsmasq(authority.port, [""], [other.trust_anchor()])]
    try:
        for resolver in started:
            resolver.start()
        yield Resolvers(*(r.port for r in started))
    finally:
        for resolver in started:
            resolver.stop()
        authority.stop()


def _dns(port: int, dane: bool = True) -> DnsSettings:
    return DnsSettings(resolver=("127.0.0.1", port), dane=dane, timeout_seconds=5.0)


def test_a_validating_resolver_passes_the_probe(resolvers: Resolvers) -> None:
    assert SecureLookup(_dns(resolvers.validating)).probe() is None


def test_a_resolver_that_does_not_validate_is_a_problem_with_dane(resolvers: Resolvers) -> None:
    problem = SecureLookup(_dns(resolvers.plain)).probe()
    assert problem is not None and "does not validate DNSSEC (no AD bit" in problem
    assert problem.startswith(f"127.0.0.1:{resolvers.plain} ")
    # Without DANE the AD bit is not used: a resolver that answers is all that is needed.
    assert SecureLookup(_dns(resolvers.plain, dane=False)).probe() is None


def test_a_broken_trust_anchor_and_a_dead_resolver_are_problems(resolvers: Resolvers) -> None:
    problem = SecureLookup(_dns(resolvers.wrong_anchor)).probe()
    assert problem is not None and "answered SERVFAIL for . DNSKEY" in problem
    dead = SecureLookup(DnsSettings(resolver=("127.0.0.1", free_port()), dane=True, timeout_seconds=1.0)).probe()
    assert dead is not None and "DNS lookup of . DNSKEY failed" in dead


def _standalone(port: int, sink: SmtpSink | None = None, metrics: int | None = None) -> dict[str, object]:
    gateway: dict[str, object] = {"next_hop": "mx", "node_name": f"standalone-{port}",
                                  "dns": {"resolver": f"127.0.0.1:{port}", "dane": True, "timeout_seconds": 5}}
    if sink is not None:
        gateway["local_next_hop"] = "{}:{}".format(*sink.address)
    if metrics is not None:
        gateway["metrics_listen"] = f"127.0.0.1:{metrics}"
    return {"gateway": gateway}


def test_the_heartbeat_reports_the_resolver_and_the_local_next_hop(resolvers: Resolvers, sink: SmtpSink,
                                                                   start_gateway: StartGateway) -> None:
    gw = start_gateway(_standalone(resolvers.validating, sink))
    asyncio.run_coroutine_threadsafe(Heartbeat(gw.gateway).beat(), gw._loop).result(30)
    (stored,) = nodes(gw.store)
    assert stored.next_hop == "DNS 127.0.0.1:{} (DNSSEC), local {}:{}".format(resolvers.validating, *sink.address)
    assert stored.next_hop_ok is True
    assert stored.next_hop_detail is not None and stored.next_hop_detail.startswith(
        "resolver validates (AD on . DNSKEY); local: 220")


def test_the_heartbeat_reports_a_resolver_that_stopped_validating(resolvers: Resolvers, start_gateway: StartGateway,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    gw = start_gateway(_standalone(resolvers.plain))
    beat = Heartbeat(gw.gateway)
    for _ in range(2):
        asyncio.run_coroutine_threadsafe(beat.beat(), gw._loop).result(30)
    (stored,) = nodes(gw.store)
    assert stored.next_hop == f"DNS 127.0.0.1:{resolvers.plain} (DNSSEC)" and stored.next_hop_ok is False
    assert "does not validate DNSSEC" in (stored.next_hop_detail or "")
    assert caplog.text.count("does not validate DNSSEC") == 1  # said once, not at every beat


def test_the_heartbeat_reports_a_local_next_hop_that_is_down(resolvers: Resolvers,
                                                             start_gateway: StartGateway) -> None:
    settings = _standalone(resolvers.validating)
    settings["gateway"]["local_next_hop"] = f"127.0.0.1:{free_port()}"  # type: ignore[index]
    gw = start_gateway(settings)
    asyncio.run_coroutine_threadsafe(Heartbeat(gw.gateway).beat(), gw._loop).result(30)
    (stored,) = nodes(gw.store)
    assert stored.next_hop_ok is False
    assert (stored.next_hop_detail or "").startswith("resolver validates (AD on . DNSKEY); local: cannot connect")


def _readyz(port: int) -> tuple[int, str]:
    """/readyz once its checks have answered: on a loaded machine the first probe may give up waiting (0.9 s)
    while the check goes on in its thread and is cached for the next."""
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        if "no answer within" not in text:
            return status, text
        time.sleep(0.2)
    return status, text


def test_readyz_says_when_the_resolver_does_not_validate(resolvers: Resolvers, start_gateway: StartGateway) -> None:
    good, bad = free_port(), free_port()
    start_gateway(_standalone(resolvers.validating, metrics=good))
    start_gateway(_standalone(resolvers.plain, metrics=bad))
    assert _readyz(good) == (200, "ready\n")
    status, text = _readyz(bad)
    assert status == 503
    assert text.startswith(f"not ready: DNS resolver: 127.0.0.1:{resolvers.plain} does not validate DNSSEC")

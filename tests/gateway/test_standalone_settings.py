"""The settings of standalone delivery: ``next_hop = "mx"`` and ``[gateway.dns]``; DANE only with a resolver whose
AD bit can be trusted (on loopback, or declared trusted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailseal.errors import ConfigurationError
from mailseal.gateway.mxrelay import MxRelay, relay_for
from mailseal.gateway.relay import Journal, Relay
from mailseal.gateway.settings import DnsSettings, GatewaySettings


def _settings(**gateway: Any) -> GatewaySettings:
    return GatewaySettings.from_settings({"gateway": gateway})


def test_next_hop_mx_means_standalone(tmp_path: Path) -> None:
    settings = _settings(next_hop="mx", dns={"resolver": "127.0.0.1:5353", "dane": True, "mx_port": 2525})
    assert settings.standalone and settings.next_hop is None
    assert settings.dns == DnsSettings(("127.0.0.1", 5353), True, False, 10.0, 2525)
    relay = relay_for(settings, Journal(tmp_path / "j"))
    assert isinstance(relay, MxRelay) and relay.port == 2525 and relay.dane
    assert relay.tls.mta_sts_nameserver == ("127.0.0.1", 5353)  # MTA-STS asks the same resolver unless told


def test_a_next_hop_stays_a_next_hop(tmp_path: Path) -> None:
    settings = _settings(next_hop="127.0.0.1:10026")
    assert not settings.standalone and settings.next_hop == ("127.0.0.1", 10026)
    relay = relay_for(settings, Journal(tmp_path / "j"))
    assert type(relay) is Relay and (relay.host, relay.port) == ("127.0.0.1", 10026)


def test_the_probe_zone_is_the_root_unless_set() -> None:
    assert _settings(next_hop="mx").dns.probe_zone == "."
    assert _settings(next_hop="mx", dns={"probe_zone": "example.org"}).dns.probe_zone == "example.org"


def test_ipv6_loopback_resolver_is_trusted() -> None:
    assert _settings(next_hop="mx", dns={"resolver": "[::1]:53", "dane": True}).dns.dane


@pytest.mark.parametrize("gateway, words", [
    ({"next_hop": "mx", "dns": {"dane": True}}, "on loopback"),
    ({"next_hop": "mx", "dns": {"resolver": "192.0.2.53:53", "dane": True}}, "trust_resolver"),
    ({"next_hop": "127.0.0.1:25", "dns": {"resolver": "127.0.0.1:53", "dane": True}}, 'next_hop = "mx"'),
    ({"next_hop": "mx", "dns": {"dane": "yes"}}, "gateway.dns.dane must be true or false"),
    ({"next_hop": "mx", "dns": {"mx_port": 0}}, "gateway.dns.mx_port must be a port number"),
    ({"next_hop": "mx", "dns": {"timeout_seconds": -1}}, "gateway.dns.timeout_seconds"),
    ({"next_hop": "mx", "dns": {"resolvr": "127.0.0.1:53"}}, "did you mean 'resolver'"),
    ({"next_hop": "mx", "dns": "127.0.0.1"}, "[gateway.dns] must be a table"),
    ({"next_hop": "MX!"}, "gateway.next_hop"),
    ({"next_hop": "mx", "dns": {"probe_zone": "../etc"}}, "gateway.dns.probe_zone must be a DNS zone name"),
    ({"next_hop": "mx", "dns": {"probe_zone": ""}}, "gateway.dns.probe_zone must be a DNS zone name"),
    ({"next_hop": "127.0.0.1:25", "local_next_hop": "127.0.0.1:10026"}, "applies to standalone delivery"),
])
def test_bad_dns_settings_are_refused(gateway: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _settings(**gateway)
    assert words in info.value.message


def test_a_remote_resolver_declared_trusted_is_accepted() -> None:
    settings = _settings(next_hop="mx", dns={"resolver": "192.0.2.53:53", "dane": True, "trust_resolver": True})
    assert settings.dns.dane and settings.dns.trust_resolver


def test_local_next_hop_routes_the_accepted_domains(tmp_path: Path) -> None:
    settings = _settings(next_hop="mx", local_next_hop="127.0.0.1:10026", accepted_domains=["*.example.org"])
    relay = relay_for(settings, Journal(tmp_path / "j"))
    assert isinstance(relay, MxRelay) and relay.local is not None
    assert (relay.local.host, relay.local.port) == ("127.0.0.1", 10026) and relay.local.pool is relay.pool
    assert "lab.example.org" in relay.local_domains and "example.net" not in relay.local_domains

"""The MTA-STS (RFC 8461) TXT record and policy parsers, the mx pattern match and the delivery verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailseal.errors import ConfigurationError, ErrorCode
from mailseal.gateway.mtasts import MtaStsError, Policy, mx_matches, parse_policy, parse_txt, policy_url, violation
from mailseal.gateway.settings import GatewaySettings, MtaStsSettings, OutboundTls

# RFC 8461 §3.2 example (with CRLF line ends, as served)
RFC_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"


def test_the_rfc_8461_policy_example_parses() -> None:
    policy = parse_policy(RFC_POLICY.encode(), "20160831085700Z")
    assert policy == Policy("enforce", 604800, ("mail.example.com", "*.example.net", "backupmx.example.com"),
                            "20160831085700Z")


@pytest.mark.parametrize("record, ident", [
    ("v=STSv1; id=20160831085700Z;", "20160831085700Z"),  # RFC 8461 §3.1 example
    ("v=STSv1;id=abc", "abc"),
    ("v = STSv1 ; id = X1 ; ext=whatever", "X1"),
])
def test_txt_records_give_their_id(record: str, ident: str) -> None:
    assert parse_txt(["some other record", record]) == ident


def test_no_sts_txt_record_means_no_policy() -> None:
    assert parse_txt([]) is None
    assert parse_txt(["v=spf1 -all"]) is None


@pytest.mark.parametrize("records, words", [
    (["v=STSv1; id=a", "v=STSv1; id=b"], "allows one"),
    (["v=STSv1;"], "no id"),
    (["v=STSv1; id=has-dash"], "letters and digits"),
    (["v=STSv1; id=" + "a" * 33], "letters and digits"),
    (["v=STSv1; id"], "malformed field"),
    (["v=STSv1; id=a; id=b"], "two id"),
])
def test_malformed_txt_records_are_refused(records: list[str], words: str) -> None:
    with pytest.raises(MtaStsError, match=words) as info:
        parse_txt(records)
    assert info.value.code == ErrorCode.MALFORMED_INPUT


def test_unknown_keys_are_ignored_and_lf_is_accepted() -> None:
    policy = parse_policy("version: STSv1\nmode: testing\nfuture: 1\nmx: MX.Example.ORG.\nmax_age: 86400\n")
    assert policy.mode == "testing" and policy.mx == ("mx.example.org",) and policy.max_age == 86400


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 0\n").mx == ()


@pytest.mark.parametrize("text, words", [
    ("mode: enforce\nmx: a.example\nmax_age: 1\n", "no 'version: STSv1'"),
    ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "is not STSv1"),
    ("version: STSv1\nmx: a.example\nmax_age: 1\n", "no mode"),
    ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "not one of enforce"),
    ("version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age"),
    ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "max_age '-1'"),
    ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "up to 31557600"),
    ("version: STSv1\nmode: enforce\nmax_age: 10\n", "no mx line"),
    ("version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n", "mode twice"),
    ("version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", "not a host name"),
    ("version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", "not a host name"),
    ("version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", "line 2"),
    (b"version: STSv1\nmode: enforce\nmx: \xff.example\nmax_age: 1\n", "not UTF-8"),
    ("version: STSv1\n" + "x: y\n" * 20000, "larger than"),
])
def test_malformed_policies_are_refused_with_a_clear_error(text: str | bytes, words: str) -> None:
    with pytest.raises(MtaStsError, match=words):
        parse_policy(text)


@pytest.mark.parametrize("pattern, host, expected", [
    ("mail.example.com", "mail.example.com", True),
    ("mail.example.com", "MAIL.example.com.", True),
    ("mail.example.com", "mail2.example.com", False),
    ("*.example.net", "mx1.example.net", True),
    ("*.example.net", "example.net", False),  # RFC 8461 §4.1: the wildcard is exactly one label
    ("*.example.net", "a.b.example.net", False),
    ("*.example.net", "mx1.example.org", False),
])
def test_mx_patterns(pattern: str, host: str, expected: bool) -> None:
    assert mx_matches(pattern, host) is expected


def test_the_verdict_needs_a_matching_mx_and_verified_tls() -> None:
    policy = parse_policy(RFC_POLICY)
    assert violation(policy, "mx9.example.net", tls_verified=True) is None
    assert "matches none" in (violation(policy, "relay.example.org", tls_verified=True) or "")
    assert "STARTTLS" in (violation(policy, "mail.example.com", tls_verified=False) or "")
    assert violation(None, "relay.example.org", tls_verified=False) is None
    assert violation(parse_policy("version: STSv1\nmode: none\nmax_age: 5\n"), "x.example", False) is None


def test_the_policy_url() -> None:
    assert policy_url("Example.COM.") == "https://mta-sts.example.com/.well-known/mta-sts.txt"
    assert policy_url("example.com", 8443) == "https://mta-sts.example.com:8443/.well-known/mta-sts.txt"


def _outbound(table: dict[str, object]) -> OutboundTls:
    gateway = {"next_hop": "127.0.0.1:10026", "outbound_tls": table}
    return GatewaySettings.from_settings({"gateway": gateway}).outbound_tls


def test_the_settings_turn_mta_sts_on() -> None:
    tls = _outbound({"mta_sts": True, "mta_sts_nameserver": "127.0.0.1:5353", "mta_sts_ca_file": "/x/ca.pem",
                     "mta_sts_allowed_networks": ["10.0.0.0/8"], "mta_sts_timeout_seconds": 3,
                     "mta_sts_policy_port": 8443})
    assert tls.sts == MtaStsSettings(True, ("127.0.0.1", 5353), Path("/x/ca.pem"), ("10.0.0.0/8",), 3.0, 8443)
    assert _outbound({}).sts.enabled is False


@pytest.mark.parametrize("table, words", [
    ({"mta_sts": "yes"}, "true or false"),
    ({"mta_sts_nameserver": "nowhere"}, "mta_sts_nameserver"),
    ({"mta_sts_allowed_networks": ["10.0.0.0/33"]}, "is not a network"),
    ({"mta_sts_timeout_seconds": 0}, "positive number"),
    ({"mta_sts_policy_port": 70000}, "port number"),
    ({"mta_sst": True}, "did you mean 'mta_sts'"),
    ({"mta_sts_ca_file": 5}, "must be a file name"),
    ({"mta_sts_allowed_networks": "10.0.0.0/8"}, "list of strings"),
])
def test_bad_mta_sts_settings_are_refused(table: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        _outbound(table)

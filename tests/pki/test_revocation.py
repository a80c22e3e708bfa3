"""Revocation end to end against real CRL and OCSP servers on 127.0.0.1 (RFC 5280 §6.3, RFC 6960)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import mailseal
from mailseal.cms.identity import Identity
from mailseal.mime.report import SignerResult
from mailseal.pki.fetching import FetchPolicy
from mailseal.pki.revocation import RevocationCache, crl_validity, load_crls, parse_crl
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext, validate_path
from tests.conftest import RunCli
from tests.support.revocation_servers import IssuedUser, RevocationCA, RevocationServer, closed_port_url
from tests.support.testpki import TestPKI

LOOPBACK = FetchPolicy(allow_private=True, timeout=3.0)


@pytest.fixture
def server(pki: TestPKI) -> Iterator[RevocationServer]:
    with RevocationServer(RevocationCA(pki)) as srv:
        yield srv


def _signed(user: IssuedUser, pki: TestPKI) -> bytes:
    identity = Identity(user.key, user.cert, (pki.root_cert,))
    message = f"From: {user.email}\r\nTo: bob@example.org\r\nSubject: t\r\n\r\nHello.\r\n".encode()
    return mailseal.sign(message, identity)


def _context(pki: TestPKI, **kwargs: Any) -> ValidationContext:
    kwargs.setdefault("allow_fetching", True)
    kwargs.setdefault("fetch_policy", LOOPBACK)
    return ValidationContext(trust=TrustStore((pki.root_cert,)), **kwargs)


def _signer(message: bytes, context: ValidationContext) -> SignerResult:
    report = mailseal.verify(message, context)
    assert len(report.signers) == 1
    return report.signers[0]


def test_revoked_signer_via_crl_over_http_is_revoked(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("crl-revoked", crl=True)
    server.ca.revoke(user.cert)
    signer = _signer(_signed(user, pki), _context(pki))
    assert signer.status == "revoked"
    assert server.hits["crl"] == 1


def test_good_signer_via_crl_is_valid_and_revocation_good(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("crl-good", crl=True)
    signer = _signer(_signed(user, pki), _context(pki, revocation_mode="hard-fail"))
    assert signer.status == "valid"
    assert any("known not to be revoked" in r for r in signer.reasons)


def test_revoked_signer_via_ocsp_is_revoked(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("ocsp-revoked", ocsp_=True)
    server.ca.revoke(user.cert)
    signer = _signer(_signed(user, pki), _context(pki))
    assert signer.status == "revoked"
    assert server.hits["ocsp"] == 1 and server.hits["crl"] == 0


def test_good_signer_via_ocsp_is_good_in_hard_mode(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("ocsp-good", ocsp_=True)
    result = validate_path(user.cert, (), _context(pki, revocation_mode="hard-fail"))
    assert (result.status, result.revocation) == ("valid", "good")
    assert server.hits["ocsp"] == 1


def _down_user(pki: TestPKI) -> IssuedUser:
    return RevocationCA(pki).user("down", crl_url=closed_port_url("/crl"), ocsp_url=closed_port_url("/ocsp"))


def test_responder_down_hard_fail_refuses(pki: TestPKI) -> None:
    signer = _signer(_signed(_down_user(pki), pki), _context(pki, revocation_mode="hard-fail"))
    assert signer.status == "revocation-unknown"
    assert not signer.trusted


def test_responder_down_soft_fail_reports_revocation_unknown(pki: TestPKI) -> None:
    user = _down_user(pki)
    signer = _signer(_signed(user, pki), _context(pki, revocation_mode="soft-fail"))
    assert signer.status == "valid"
    unknown = [r for r in signer.reasons if r.startswith("revocation unknown:")]
    assert unknown and "ConnectionRefusedError" in unknown[0]
    result = validate_path(user.cert, (), _context(pki, revocation_mode="soft-fail"))
    assert result.revocation == "unknown"
    assert {e.outcome for e in result.fetches} == {"failed"}


def test_stale_crl_in_cache_is_refetched(pki: TestPKI, server: RevocationServer, tmp_path: Path) -> None:
    user = server.user("stale", crl=True)
    cache = RevocationCache(tmp_path)
    now = datetime.now(UTC)
    stale = server.ca.crl(this_update=now - timedelta(days=3), next_update=now - timedelta(days=2))
    cache.put_crl(server.url("/crl"), stale)
    server.ca.revoke(user.cert)  # only the fresh CRL says so
    signer = _signer(_signed(user, pki), _context(pki, cache_dir=tmp_path))
    assert signer.status == "revoked"
    assert server.hits["crl"] == 1
    cached = cache.get_crl(server.url("/crl"), datetime.now(UTC))
    assert cached is not None and crl_validity(cached)[0] > now - timedelta(days=1)  # type: ignore[operator]


def test_fresh_crl_in_cache_is_used_without_fetching(pki: TestPKI, server: RevocationServer, tmp_path: Path) -> None:
    user = server.user("cached", crl=True)
    server.ca.revoke(user.cert)
    RevocationCache(tmp_path).put_crl(server.url("/crl"), server.ca.crl())
    result = validate_path(user.cert, (), _context(pki, cache_dir=tmp_path))
    assert result.status == "revoked"
    assert server.hits["crl"] == 0
    assert [e.outcome for e in result.fetches] == ["cached"]


def test_older_crl_never_replaces_a_newer_one_in_the_cache(pki: TestPKI, tmp_path: Path) -> None:
    ca = RevocationCA(pki)
    now = datetime.now(UTC)
    newer, older = ca.crl(this_update=now - timedelta(hours=1)), ca.crl(this_update=now - timedelta(days=1))
    cache = RevocationCache(tmp_path)
    cache.put_crl("http://example.org/ca.crl", newer)
    cache.put_crl("http://example.org/ca.crl", older)
    assert cache.get_crl("http://example.org/ca.crl", now) == newer


def _crl_with_a_damaged_entry(ca: RevocationCA, user: IssuedUser) -> bytes:
    """A CRL whose revoked entry has a revocation date that is not a time: its outer structure still loads."""
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    ca.revoke(user.cert, when)
    der = ca.crl()
    date = b"\x17\x0d200102030405Z"
    assert der.count(date) == 1
    return der.replace(date, b"\x17\x0d2001020304ZZZ")


def test_parse_crl_checks_every_entry_and_keeps_the_received_bytes(pki: TestPKI) -> None:
    from asn1crypto import crl as a_crl

    ca = RevocationCA(pki)
    user = ca.user("entry")
    bad = _crl_with_a_damaged_entry(ca, user)
    assert a_crl.CertificateList.load(bad)["tbs_cert_list"]["this_update"].native is not None
    with pytest.raises(ValueError):
        parse_crl(bad)
    good = ca.crl()
    parsed = parse_crl(good)
    assert parsed.dump() == good
    # The entries, checked and put back to their unparsed form, are read again on demand.
    entries = list(parsed["tbs_cert_list"]["revoked_certificates"])
    assert [e["user_certificate"].native for e in entries] == [user.cert.serial_number]
    assert entries[0]["revocation_date"].native == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_fetched_crl_with_a_damaged_entry_fails_at_fetch_and_is_not_cached(
    pki: TestPKI, server: RevocationServer, tmp_path: Path
) -> None:
    user = server.user("damaged", crl=True)
    server.crl_bytes = _crl_with_a_damaged_entry(server.ca, user)
    result = validate_path(user.cert, (), _context(pki, cache_dir=tmp_path))
    assert result.revocation != "good"
    assert [(e.kind, e.outcome, e.reason) for e in result.fetches] == [("crl", "fetched", ""),
                                                                       ("crl", "failed", "content")]
    assert not list(tmp_path.glob("*.crl"))


def test_the_cache_hands_back_a_loaded_crl(pki: TestPKI, tmp_path: Path) -> None:
    ca = RevocationCA(pki)
    now = datetime.now(UTC)
    der = ca.crl()
    cache = RevocationCache(tmp_path)
    cache.put_crl("http://example.org/ca.crl", der, parse_crl(der))
    loaded = cache.load_crl("http://example.org/ca.crl", now)
    assert loaded is not None and loaded.dump() == der == cache.get_crl("http://example.org/ca.crl", now)
    assert cache.load_crl("http://example.org/ca.crl", now + timedelta(days=2)) is None  # stale


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any attempt to open a connection is recorded and fails: the guard must refuse before connecting."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.mark.parametrize("target", ["10.0.0.1", "192.168.1.1", "169.254.169.254", "[fd00::1]"])
def test_cdp_at_private_address_is_not_fetched(pki: TestPKI, no_sockets: list[object], target: str) -> None:
    user = RevocationCA(pki).user("private", crl_url=f"http://{target}/ca.crl", ocsp_url=f"http://{target}/ocsp")
    context = _context(pki, fetch_policy=FetchPolicy(), revocation_mode="hard-fail")
    result = validate_path(user.cert, (), context)
    assert result.status == "revocation-unknown"
    assert no_sockets == []
    assert result.fetches and all(e.outcome == "refused" for e in result.fetches)
    # asn1crypto drops an IPv6 literal's brackets from the URI, which then has no parseable host: refused too.
    assert {e.reason for e in result.fetches} == {"no-host" if ":" in target else "private-address"}


def test_name_resolving_to_private_address_is_not_fetched(pki: TestPKI, no_sockets: list[object]) -> None:
    user = RevocationCA(pki).user("named", crl_url="http://crl.internal.example/ca.crl")
    policy = FetchPolicy(resolver=lambda host, port: ["93.184.216.34", "10.1.2.3"])
    result = validate_path(user.cert, (), _context(pki, fetch_policy=policy))
    assert result.revocation == "unknown"
    assert no_sockets == []
    assert [(e.outcome, e.reason) for e in result.fetches] == [("refused", "private-address")]


def test_loopback_is_refused_without_permission(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("loop", crl=True)
    result = validate_path(user.cert, (), _context(pki, fetch_policy=FetchPolicy()))
    assert result.revocation == "unknown"
    assert server.hits["crl"] == 0
    assert [e.reason for e in result.fetches] == ["private-address"]


def test_loopback_is_fetched_when_its_network_is_listed(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("listed", crl=True)
    server.ca.revoke(user.cert)
    policy = FetchPolicy(allowed_networks=("127.0.0.0/8",))
    result = validate_path(user.cert, (), _context(pki, fetch_policy=policy))
    assert result.status == "revoked"
    assert server.hits["crl"] == 1


def test_no_fetching_without_allow_fetching(pki: TestPKI, server: RevocationServer) -> None:
    user = server.user("nofetch", crl=True)
    server.ca.revoke(user.cert)
    result = validate_path(user.cert, (), _context(pki, allow_fetching=False))
    assert result.status == "valid" and result.revocation == "unknown"
    assert server.hits["crl"] == 0


def test_crl_given_offline_finds_the_revocation(pki: TestPKI) -> None:
    ca = RevocationCA(pki)
    user = ca.user("offline")
    ca.revoke(user.cert)
    result = validate_path(user.cert, (), _context(pki, allow_fetching=False, crls=(ca.crl(),)))
    assert result.status == "revoked" and result.revocation == "revoked"


def test_load_crls_reads_der_and_pem_and_refuses_garbage(pki: TestPKI) -> None:
    import base64

    der = RevocationCA(pki).crl()
    pem = b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(der) + b"-----END X509 CRL-----\n"
    assert load_crls(der) == [der]
    assert load_crls(pem + pem) == [der, der]
    with pytest.raises(mailseal.MailsealError):
        load_crls(b"not a crl")


def test_cli_verify_hard_with_fetch_reports_revoked(pki: TestPKI, server: RevocationServer,
                                                   run_cli: RunCli, tmp_path: Path) -> None:
    user = server.user("cli-revoked", ocsp_=True)
    server.ca.revoke(user.cert)
    msg = tmp_path / "m.eml"
    msg.write_bytes(_signed(user, pki))
    home = {"MAILSEAL_HOME": str(tmp_path / "home")}
    args = ["verify", "--trust", str(pki.root_path), "-i", str(msg), "--json", "--revocation", "hard"]
    refused = run_cli(*args, "--allow-fetch", env=home)
    assert refused.returncode == 1
    assert server.hits["ocsp"] == 0  # loopback needs --allow-private-fetch
    fetched = run_cli(*args, "--allow-fetch", "--allow-private-fetch", env=home)
    assert fetched.returncode == 1 and b'"status": "revoked"' in fetched.stdout
    assert server.hits["ocsp"] == 1


def test_cli_verify_with_crl_file_reports_revoked(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    ca = RevocationCA(pki)
    user = ca.user("cli-crl")
    ca.revoke(user.cert)
    (tmp_path / "m.eml").write_bytes(_signed(user, pki))
    (tmp_path / "ca.crl").write_bytes(ca.crl())
    base = ["verify", "--trust", str(pki.root_path), "-i", str(tmp_path / "m.eml"), "--json"]
    revoked = run_cli(*base, "--crl", str(tmp_path / "ca.crl"))
    assert revoked.returncode == 1 and b'"status": "revoked"' in revoked.stdout
    unchecked = run_cli(*base, "--revocation", "off")
    assert unchecked.returncode == 0, unchecked.stderr

"""SMIMEA lookup (RFC 8162) against a real dnsmasq on 127.0.0.1 serving type-53 records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mailseal.errors import ConfigurationError, ErrorCode, RecipientError, TemporaryError
from mailseal.store import Directory, Store
from mailseal.store.lookup import CertificateLookup
from mailseal.store.resolution import resolve_recipients
from mailseal.store.smimea import SmimeaConfig, SmimeaQueryError, SmimeaSource, owner_name
from tests.support.dnsserver import Dnsmasq, require_dnsmasq, smimea_rdata
from tests.support.testpki import TestPKI

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def dns_server(pki: TestPKI) -> Iterator[Dnsmasq]:
    erin = pki.user("dns-erin", email="dns-erin@example.org")
    other = pki.user("dns-other", email="dns-other@example.org")
    spki = erin.cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    records = {
        owner_name(erin.email): [smimea_rdata(3, 0, 0, erin.cert.public_bytes(Encoding.DER))],
        # Only a SHA-256 of the key: usable to check a certificate, not to obtain one.
        owner_name("dns-hash@example.org"): [smimea_rdata(3, 1, 1, hashlib.sha256(spki).digest())],
        # A full certificate, but someone else's.
        owner_name("dns-mallory@example.org"): [smimea_rdata(3, 0, 0, other.cert.public_bytes(Encoding.DER))],
    }
    server = Dnsmasq(require_dnsmasq(), records)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def source(server: Dnsmasq) -> SmimeaSource:
    return SmimeaSource(SmimeaConfig("127.0.0.1", server.port, timeout=2))


def test_owner_name_is_truncated_sha256_of_local_part() -> None:
    digest = hashlib.sha256(b"hugh").hexdigest()[:56]
    assert owner_name("hugh@example.com") == f"{digest}._smimecert.example.com."


def test_smimea_finds_certificate(dns_server: Dnsmasq, pki: TestPKI) -> None:
    result = source(dns_server).search("dns-erin@example.org")
    assert result.error is None
    assert result.certificates == (pki.user("dns-erin", email="dns-erin@example.org").cert,)


def test_smimea_hash_record_is_recorded_but_gives_no_certificate(dns_server: Dnsmasq) -> None:
    result = source(dns_server).search("dns-hash@example.org")
    assert result.error is None and result.certificates == ()
    assert len(result.skipped) == 1 and result.skipped[0].where.startswith("SMIMEA 3 1 1")
    assert "unusable" in result.skipped[0].reason


def test_smimea_record_with_someone_elses_certificate_is_refused(dns_server: Dnsmasq) -> None:
    lookup = CertificateLookup(None, [source(dns_server)], store_found=False)
    result = lookup.lookup("dns-mallory@example.org")
    assert result.certificates == () and result.source is None
    assert any("not an address of the certificate" in r for ref in result.refused for r in ref.reasons)


def test_smimea_no_record_is_empty_not_an_error(dns_server: Dnsmasq) -> None:
    result = source(dns_server).search("nobody@example.org")
    assert result.error is None and result.certificates == ()


def test_smimea_server_down_is_an_error_not_an_exception() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = SmimeaSource(SmimeaConfig("127.0.0.1", port, timeout=0.5)).search("a@example.org")
    assert result.error is not None


def test_smimea_refused_answer_is_a_temporary_error(dns_server: Dnsmasq) -> None:
    # dnsmasq has no upstream: a name outside its local domains is answered REFUSED.
    with pytest.raises(SmimeaQueryError) as info:
        source(dns_server).records("someone@elsewhere.test")
    assert isinstance(info.value, TemporaryError) and info.value.code == ErrorCode.TEMPORARY_FAILURE
    assert "REFUSED" in info.value.message
    result = source(dns_server).search("someone@elsewhere.test")
    assert result.error is not None and "REFUSED" in result.error


def test_no_certificate_while_the_nameserver_refuses_is_temporary(dns_server: Dnsmasq, tmp_path: Path) -> None:
    directory = Directory(Store.open(f"sqlite:///{tmp_path / 's.db'}"))
    lookup = CertificateLookup(directory, ["local", source(dns_server)], store_found=False)
    with pytest.raises(TemporaryError) as info:
        resolve_recipients(["someone@elsewhere.test"], directory, lookup=lookup)
    assert info.value.code == ErrorCode.TEMPORARY_FAILURE and "smimea" in info.value.message
    assert lookup.lookup("someone@elsewhere.test").failed == ("smimea",)


def test_no_certificate_when_the_nameserver_answered_is_not_temporary(dns_server: Dnsmasq, tmp_path: Path) -> None:
    directory = Directory(Store.open(f"sqlite:///{tmp_path / 's.db'}"))
    lookup = CertificateLookup(directory, ["local", source(dns_server)], store_found=False)
    with pytest.raises(RecipientError) as info:
        resolve_recipients(["nobody@example.org"], directory, lookup=lookup)
    assert not isinstance(info.value, TemporaryError) and info.value.code == ErrorCode.RECIPIENT_UNSUITABLE


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"port": 0}, {"port": 65536}])
def test_bad_smimea_settings_are_configuration_errors(kw: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError) as info:
        SmimeaConfig("127.0.0.1", **kw)  # type: ignore[arg-type]
    assert info.value.code == ErrorCode.CONFIGURATION and "lookup.smimea." in info.value.message

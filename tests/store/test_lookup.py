"""The ordered certificate lookup: local directory -> LDAP -> SMIMEA, first usable hit wins, TTL cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from mailseal.pki import TrustStore, ValidationContext
from mailseal.store import Directory, Store
from mailseal.store.ldap import LdapConfig, LdapSource
from mailseal.store.lookup import LOCAL, CertificateLookup
from mailseal.store.smimea import SmimeaConfig, SmimeaSource, owner_name
from tests.support.dnsserver import Dnsmasq, require_dnsmasq, smimea_rdata
from tests.support.slapd import SUFFIX, Slapd, require_slapd
from tests.support.testpki import TestPKI, User

pytestmark = pytest.mark.interop


def der(user: User) -> bytes:
    return user.cert.public_bytes(Encoding.DER)


def both(pki: TestPKI) -> User:
    return pki.user("lk-both", email="lk-both@example.org")


def dns_only(pki: TestPKI) -> User:
    return pki.user("lk-dns", email="lk-dns@example.org")


def ldap_only(pki: TestPKI) -> User:
    return pki.user("lk-ldap", email="lk-ldap@example.org")


def signing_only(pki: TestPKI) -> User:
    return pki.user("lk-sign", email="lk-sign@example.org", key_usage={"digitalSignature"})


@pytest.fixture(scope="module")
def slapd(pki: TestPKI) -> Iterator[Slapd]:
    server = Slapd(require_slapd())
    try:
        server.start()
        server.add_person("both", both(pki).email, user_certificate=[der(both(pki))])
        bundle = pkcs7.serialize_certificates([ldap_only(pki).cert, pki.intermediate_cert], Encoding.DER)
        server.add_person("ldap", ldap_only(pki).email, smime=[bundle])
        server.add_person("sign", signing_only(pki).email, user_certificate=[der(signing_only(pki))])
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def dns_server(pki: TestPKI) -> Iterator[Dnsmasq]:
    records = {owner_name(u.email): [smimea_rdata(3, 0, 0, der(u))] for u in (both(pki), dns_only(pki))}
    server = Dnsmasq(require_dnsmasq(), records)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    try:
        yield Directory(store)
    finally:
        store.close()


def ldap(server: Slapd) -> LdapSource:
    return LdapSource(LdapConfig(url=server.url, base_dn=SUFFIX, timeout=3))


def smimea(server: Dnsmasq) -> SmimeaSource:
    return SmimeaSource(SmimeaConfig("127.0.0.1", server.port, timeout=2))


def test_lookup_local_first_does_not_ask_the_servers(directory: Directory, slapd: Slapd, dns_server: Dnsmasq,
                                                     pki: TestPKI) -> None:
    directory.add(both(pki).cert)
    lookup = CertificateLookup(directory, [LOCAL, ldap(slapd), smimea(dns_server)])
    before, queries = slapd.searches(), dns_server.queries()
    result = lookup.lookup(both(pki).email)
    assert result.source == LOCAL and result.certificates == (both(pki).cert,)
    assert slapd.searches() == before and dns_server.queries() == queries


def test_lookup_first_hit_wins_ldap_before_smimea(directory: Directory, slapd: Slapd, dns_server: Dnsmasq,
                                                  pki: TestPKI) -> None:
    lookup = CertificateLookup(directory, [LOCAL, ldap(slapd), smimea(dns_server)])
    queries = dns_server.queries()
    result = lookup.lookup(both(pki).email)
    assert result.source == "ldap" and result.consulted == (LOCAL, "ldap")
    assert dns_server.queries() == queries


def test_lookup_order_is_configurable(directory: Directory, slapd: Slapd, dns_server: Dnsmasq, pki: TestPKI) -> None:
    lookup = CertificateLookup(directory, [smimea(dns_server), ldap(slapd)])
    before = slapd.searches()
    assert lookup.lookup(both(pki).email).source == "smimea"
    assert slapd.searches() == before


def test_lookup_falls_through_to_smimea_and_files_it(directory: Directory, slapd: Slapd, dns_server: Dnsmasq,
                                                    pki: TestPKI) -> None:
    lookup = CertificateLookup(directory, [LOCAL, ldap(slapd), smimea(dns_server)])
    assert lookup.find(dns_only(pki).email) == [dns_only(pki).cert]
    entries = directory.find(dns_only(pki).email)
    assert [(e.source, e.fingerprint) for e in entries] == [("smimea", entries[0].fingerprint)]


def test_lookup_files_ldap_hit_in_directory(directory: Directory, slapd: Slapd, pki: TestPKI) -> None:
    CertificateLookup(directory, [LOCAL, ldap(slapd)]).find(ldap_only(pki).email)
    assert [e.source for e in directory.find(ldap_only(pki).email)] == ["ldap"]


def test_lookup_ttl_cache_does_not_ask_again(directory: Directory, dns_server: Dnsmasq, pki: TestPKI) -> None:
    now = [1000.0]
    lookup = CertificateLookup(directory, [smimea(dns_server)], ttl=60, clock=lambda: now[0])
    assert lookup.find(dns_only(pki).email) == [dns_only(pki).cert]
    queries = dns_server.queries()
    dns_server.stop()
    now[0] += 59
    again = lookup.lookup(dns_only(pki).email)
    assert again.cached and again.certificates == (dns_only(pki).cert,)
    assert dns_server.queries() == queries
    now[0] += 2  # past the TTL: the (stopped) server is asked again, and fails
    expired = lookup.lookup(dns_only(pki).email)
    assert not expired.cached and expired.certificates == () and expired.errors


def test_lookup_ttl_cache_counts_ldap_searches(directory: Directory, slapd: Slapd, pki: TestPKI) -> None:
    lookup = CertificateLookup(directory, [ldap(slapd)], ttl=60)
    before = slapd.searches()
    lookup.find(ldap_only(pki).email)
    lookup.find(ldap_only(pki).email)
    assert slapd.searches() == before + 1


def test_lookup_refuses_signing_only_certificate_from_ldap(directory: Directory, slapd: Slapd, pki: TestPKI) -> None:
    lookup = CertificateLookup(directory, [LOCAL, ldap(slapd)])
    result = lookup.lookup(signing_only(pki).email)
    assert result.certificates == () and result.source is None
    assert result.refused and result.refused[0].source == "ldap"
    assert directory.find(signing_only(pki).email) == []  # a refused certificate is not filed


def test_lookup_with_anchors_validates_the_path(directory: Directory, slapd: Slapd, pki: TestPKI,
                                               tmp_path: Path) -> None:
    trusted = ValidationContext(trust=TrustStore(anchors=(pki.root_cert,)), revocation_mode="off")
    assert CertificateLookup(directory, [ldap(slapd)], context=trusted, store_found=False).find(
        ldap_only(pki).email) == [ldap_only(pki).cert]
    stranger = TestPKI(tmp_path / "other-pki")
    untrusted = ValidationContext(trust=TrustStore(anchors=(stranger.root_cert,)), revocation_mode="off")
    result = CertificateLookup(directory, [ldap(slapd)], context=untrusted, store_found=False).lookup(
        ldap_only(pki).email)
    assert result.certificates == ()
    assert any("path is" in r for ref in result.refused for r in ref.reasons)


def test_lookup_stale_remote_copy_in_directory_asks_the_server_again(directory: Directory, slapd: Slapd,
                                                                     pki: TestPKI) -> None:
    from datetime import UTC, datetime, timedelta

    directory.add(ldap_only(pki).cert, "ldap", when=datetime.now(UTC) - timedelta(hours=2))
    lookup = CertificateLookup(directory, [LOCAL, ldap(slapd)], ttl=3600)
    before = slapd.searches()
    result = lookup.lookup(ldap_only(pki).email)
    assert result.source == "ldap" and slapd.searches() == before + 1
    # Filing it again refreshed last_seen: the next lookup (cache cleared) is answered locally.
    lookup.clear_cache()
    assert lookup.lookup(ldap_only(pki).email).source == LOCAL


def test_lookup_refuses_unknown_source_name(directory: Directory) -> None:
    with pytest.raises(ValueError):
        CertificateLookup(directory, ["ldap"])  # type: ignore[list-item]

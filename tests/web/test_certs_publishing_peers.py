"""The Publishing page's files served by real peers and found by mailseal's own lookups: the SMIMEA zone fragment
downloaded from the console loaded into dnsmasq (SmimeaSource), its LDIF loaded into slapd with ldapadd
(LdapSource)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
from starlette.testclient import TestClient

from mailseal.store.directory import Directory
from mailseal.store.ldap import LdapConfig, LdapSource
from mailseal.store.smimea import SmimeaConfig, SmimeaSource
from tests.support.dnsserver import Dnsmasq, require_dnsmasq
from tests.support.slapd import ROOT_DN, ROOT_PW, SUFFIX, Slapd, require_slapd
from tests.support.testpki import TestPKI, User
from tests.web.conftest import Console

SOA = ("@ 3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600\n"
       "@ 3600 IN NS ns.example.org.\n")


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, console: Console, pki: TestPKI) -> list[User]:
    settings = tmp_path / "mailseal.toml"
    settings.write_text('[gateway]\naccepted_domains = ["example.org"]\n', encoding="utf-8")
    monkeypatch.setenv("MAILSEAL_CONFIG", str(settings))
    users = [pki.user("peerann"), pki.user("peerben", "ec-p256", issuer="ec-intermediate")]
    for user in users:
        Directory(console.store).add(user.cert)
    return users


@pytest.mark.interop
def test_the_zone_downloaded_from_the_console_is_served_by_dnsmasq(published: list[User], root: TestClient) -> None:
    zone_text = root.get("/publishing/download/smimea", params={"domain": "example.org"}).text
    zone = dns.zone.from_text(SOA + zone_text, origin="example.org.", relativize=False)
    records = {name.to_text(): [r.to_wire().hex() for r in rdataset]
               for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.SMIMEA)}
    assert len(records) == 2
    server = Dnsmasq(require_dnsmasq(), records)
    try:
        server.start()
        source = SmimeaSource(SmimeaConfig("127.0.0.1", server.port, timeout=2))
        for user in published:
            found = source.search(user.email)
            assert found.error is None and found.certificates == (user.cert,), user.email
        assert source.search("nobody@example.org").certificates == ()
    finally:
        server.cleanup()


@pytest.mark.interop
def test_the_ldif_downloaded_from_the_console_loads_into_slapd(published: list[User], root: TestClient,
                                                              tmp_path: Path) -> None:
    ldapadd = shutil.which("ldapadd")
    if ldapadd is None:
        pytest.skip("ldapadd not installed (Debian package ldap-utils)")
    path = tmp_path / "people.ldif"
    path.write_bytes(root.get("/api/v1/publishing/ldif", params={"base_dn": f"ou=people,{SUFFIX}"}).content)
    server = Slapd(require_slapd())
    try:
        server.start()
        done = subprocess.run([ldapadd, "-x", "-H", server.url, "-D", ROOT_DN, "-w", ROOT_PW, "-f", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("adding new entry") == 2
        source = LdapSource(LdapConfig(url=server.url, base_dn=SUFFIX, timeout=3))
        for user in published:
            found = source.search(user.email)
            assert found.error is None and found.certificates == (user.cert,), user.email
    finally:
        server.cleanup()

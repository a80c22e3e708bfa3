"""Certificate publishing (store.publishing): which certificates are ours, and the SMIMEA zone, LDIF and bundles read
back by real peers: dnspython's zone parser, dnsmasq + mailseal's SMIMEA lookup, slapd (ldapadd) + mailseal's LDAP
lookup, openssl pkcs7, and mailseal's own importers."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID

from mailseal.cms.identity import Identity, fingerprint, load_certificates
from mailseal.errors import ErrorCode, UsageError
from mailseal.pki import TrustStore, ValidationContext
from mailseal.pki.authority import CertificateAuthority
from mailseal.store import Directory, KeyStore, Store
from mailseal.store.ldap import LdapConfig, LdapSource
from mailseal.store.ldif import certificates_from_ldif
from mailseal.store.lookup import CertificateLookup
from mailseal.store.publishing import (
    Selection,
    SmimeaParameters,
    association_data,
    check_publication,
    entry_dn,
    ldif,
    p7b_bundle,
    pem_bundle,
    published,
    select_certificates,
    smimea_zone,
)
from mailseal.store.smimea import SmimeaConfig, SmimeaSource, owner_name
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.dnsserver import Dnsmasq, require_dnsmasq
from tests.support.slapd import ROOT_DN, ROOT_PW, SUFFIX, Slapd, require_slapd
from tests.support.testpki import TestPKI, User

SOA = ("@ 3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600\n"
       "@ 3600 IN NS ns.example.org.\n")
PEOPLE = f"ou=people,{SUFFIX}"


def _is_ours(address: str) -> bool:
    return address.rpartition("@")[2] in ("example.org", "example.net")


def _add(keys: KeyStore, user: User) -> None:
    keys.add(Identity(user.key, user.cert, tuple(user.chain)))


def _users(pki: TestPKI) -> dict[str, User]:
    now = datetime.now(UTC)
    return {
        "alice": pki.user("pub-alice", email="pub-alice@example.org"),
        "ec": pki.user("pub-ec", "ec-p256", email="pub-ec@example.net"),
        # A plus and a comma in the local part: the LDIF DN must escape both (RFC 4514 §2.4).
        "plus": pki.user("Zoë Plus", email="zoe+news,x@example.org"),
        "expired": pki.user("pub-expired", email="pub-expired@example.org", not_before=now - timedelta(days=400),
                            not_after=now - timedelta(days=10)),
        "signer": pki.user("pub-signer", email="pub-signer@example.org", key_usage={"digitalSignature"}),
        "foreign": pki.user("pub-foreign", email="pub-foreign@elsewhere.test"),
        "imported": pki.user("pub-imported", email="pub-imported@example.org"),
        "harvested": pki.user("pub-harvested", email="pub-harvested@example.org"),
        "server": pki.user("pub-server", email="pub-server@example.org", eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
        "outsider": pki.user("pub-outsider", email="pub-outsider@partner.test"),
    }


def _fill(store: Store, users: dict[str, User]) -> None:
    keys = KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT)
    for name in ("alice", "ec", "plus", "expired", "signer", "foreign"):
        _add(keys, users[name])
    directory = Directory(store)
    directory.add(users["imported"].cert, "imported")
    directory.add(users["server"].cert, "imported")
    directory.add(users["outsider"].cert, "imported")
    directory.add(users["harvested"].cert, "harvested")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[tuple[Store, dict[str, User]]]:
    """One SQLite store with every kind of candidate, for the read-only tests below."""
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('publish') / 'mailseal.db'}")
    users = _users(pki)
    _fill(store, users)
    yield store, users
    store.close()


def _selection(filled: tuple[Store, dict[str, User]], tmp_path: Path, **kw: object) -> Selection:
    return select_certificates(filled[0], is_ours=_is_ours, ca_directory=tmp_path / "no-ca", **kw)  # type: ignore[arg-type]


def test_ours_are_the_key_store_and_imported_directory_entries_at_accepted_domains(store: Store, pki: TestPKI,
                                                                                   tmp_path: Path) -> None:
    users = _users(pki)
    _fill(store, users)
    sel = select_certificates(store, is_ours=_is_ours, ca_directory=tmp_path / "no-ca")
    assert {(c.address, c.origins) for c in sel.certificates} == {
        ("pub-alice@example.org", ("keystore",)), ("pub-ec@example.net", ("keystore",)),
        ("zoe+news,x@example.org", ("keystore",)), ("pub-imported@example.org", ("directory",))}
    reasons = {s.address: s.reason for s in sel.skipped}
    assert "expired" in reasons["pub-expired@example.org"]
    assert "keyEncipherment" in reasons["pub-signer@example.org"]
    assert "emailProtection" in reasons["pub-server@example.org"]
    assert "accepted domain" in reasons["pub-foreign@elsewhere.test"]
    # Harvested certificates and correspondents at other domains are not ours: neither published nor reported.
    assert "pub-harvested@example.org" not in reasons and "pub-outsider@partner.test" not in reasons


def test_without_accepted_domains_only_the_key_store_and_the_ca_are_ours(filled: tuple[Store, dict[str, User]],
                                                                         tmp_path: Path) -> None:
    sel = select_certificates(filled[0], ca_directory=tmp_path / "no-ca")
    addresses = {c.address for c in sel.certificates}
    assert "pub-foreign@elsewhere.test" in addresses and "pub-imported@example.org" not in addresses


def test_domains_narrow_the_selection(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    sel = _selection(filled, tmp_path, domains=["EXAMPLE.NET."])
    assert [c.address for c in sel.certificates] == ["pub-ec@example.net"] and sel.skipped == ()
    assert _selection(filled, tmp_path).domains == ("example.net", "example.org")


def test_internal_ca_certificates_are_ours_and_revoked_ones_are_left_out(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("Publishing CA", b"ca-pass", directory=tmp_path / "ca", key_type="p256")
    kept = ca.issue("carol@example.org", usage="dual", key_type="p256")
    gone = ca.issue("dave@example.org", usage="dual", key_type="p256")
    ca.revoke(gone.record.serial, "keyCompromise")
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        # The same certificate in the key store and in the CA's register is published once, from both.
        KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT).add(Identity(kept.key, kept.certificate, (ca.certificate,)))
        KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT).add(Identity(gone.key, gone.certificate, (ca.certificate,)))
        sel = select_certificates(store, is_ours=_is_ours, ca_directory=tmp_path / "ca")
    finally:
        store.close()
    assert [(c.address, c.origins, c.chain) for c in sel.certificates] == [
        ("carol@example.org", ("keystore", "ca"), (ca.certificate,))]
    assert [(s.address, s.origins) for s in sel.skipped] == [("dave@example.org", ("keystore", "ca"))]
    assert sel.skipped[0].reason.startswith("revoked by the internal CA") and "keyCompromise" in sel.skipped[0].reason


def test_zone_owner_names_are_the_lookups(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    zone = smimea_zone(_selection(filled, tmp_path), "example.org")
    owners = set(re.findall(r"^(\S+) IN SMIMEA", zone, re.M))
    assert owners == {owner_name("pub-alice@example.org"), owner_name("zoe+news,x@example.org"),
                      owner_name("pub-imported@example.org")}
    digest = hashlib.sha256(b"pub-alice").hexdigest()[:56]
    assert owner_name("pub-alice@example.org") == f"{digest}._smimecert.example.org."


@pytest.mark.parametrize("params", [SmimeaParameters(), SmimeaParameters(3, 1, 1), SmimeaParameters(1, 0, 2)],
                         ids=["3-0-0", "3-1-1", "1-0-2"])
def test_dnspython_parses_the_zone_and_the_generic_form_alike(filled: tuple[Store, dict[str, User]], tmp_path: Path,
                                                               params: SmimeaParameters) -> None:
    sel = _selection(filled, tmp_path)
    typed = dns.zone.from_text(SOA + smimea_zone(sel, "example.org", params=params, ttl=600), origin="example.org.",
                               relativize=False)
    generic = dns.zone.from_text(SOA + smimea_zone(sel, "example.org", params=params, generic=True),
                                 origin="example.org.", relativize=False)
    alice = filled[1]["alice"].cert
    for zone in (typed, generic):
        rdataset = zone.find_rdataset(owner_name("pub-alice@example.org"), dns.rdatatype.SMIMEA)
        (rdata,) = list(rdataset)
        assert (rdata.usage, rdata.selector, rdata.mtype) == (params.usage, params.selector, params.matching_type)
        assert rdata.cert == association_data(alice, params.selector, params.matching_type)
    assert typed.find_rdataset(owner_name("pub-alice@example.org"), dns.rdatatype.SMIMEA).ttl == 600
    if params.selector == 1 and params.matching_type == 1:
        spki = alice.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert rdata.cert == hashlib.sha256(spki).digest()


def test_zone_of_a_domain_without_certificates_has_no_records(filled: tuple[Store, dict[str, User]],
                                                              tmp_path: Path) -> None:
    zone = smimea_zone(_selection(filled, tmp_path), "nothing.test")
    assert "0 certificate(s)" in zone and " IN " not in zone


@pytest.mark.parametrize("kw", [{"usage": 4}, {"selector": 2}, {"matching_type": 3}])
def test_bad_smimea_parameters_are_usage_errors(kw: dict[str, int]) -> None:
    with pytest.raises(UsageError) as info:
        SmimeaParameters(**kw)
    assert info.value.code == ErrorCode.USAGE and "SMIMEA" in info.value.message


@pytest.mark.interop
def test_zone_served_by_dnsmasq_is_found_by_the_smimea_lookup(filled: tuple[Store, dict[str, User]],
                                                              tmp_path: Path, pki: TestPKI) -> None:
    sel = _selection(filled, tmp_path)
    # The fragment as a zone parser reads it, turned into dnsmasq's --dns-rr=NAME,53,HEX (wire-form rdata).
    records: dict[str, list[str]] = {}
    for domain in sel.domains:
        zone = dns.zone.from_text(SOA.replace("example.org", domain) + smimea_zone(sel, domain), origin=f"{domain}.",
                                  relativize=False)
        for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.SMIMEA):
            records[name.to_text()] = [rdata.to_wire().hex() for rdata in rdataset]
    assert len(records) == 4
    server = Dnsmasq(require_dnsmasq(), records, domains=("example.org", "example.net"))
    try:
        server.start()
        source = SmimeaSource(SmimeaConfig("127.0.0.1", server.port, timeout=2))
        for pub in sel.certificates:
            found = source.search(pub.address)
            assert found.error is None and found.certificates == (pub.certificate,), pub.address
        # End to end: the lookup the gateway uses, with path validation to the test root.
        context = ValidationContext(trust=TrustStore(anchors=(pki.root_cert,), intermediates=(pki.intermediate_cert,)),
                                    revocation_mode="off")
        lookup = CertificateLookup(None, [source], context=context, store_found=False)
        assert lookup.find("zoe+news,x@example.org") == [filled[1]["plus"].cert]
        assert lookup.find("pub-expired@example.org") == []  # left out of the zone: NXDOMAIN
        # What is published where: every certificate is served; with other record fields it would not be.
        assert {c.status for c in check_publication(sel, [source])} == {"published"}
        other = check_publication(sel, [source], SmimeaParameters(3, 1, 1))
        assert {c.status for c in other} == {"missing"} and all("other SMIMEA record" in (c.detail or "")
                                                                for c in other)
    finally:
        server.cleanup()
    down = check_publication(sel.only(["example.net"]), [source])
    assert [(c.address, c.status) for c in down] == [("pub-ec@example.net", "error")]


@pytest.mark.interop
def test_check_reports_a_certificate_missing_from_dns(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    sel = _selection(filled, tmp_path).only(["example.org"])
    zone = dns.zone.from_text(SOA + smimea_zone(sel, "example.org"), origin="example.org.", relativize=False)
    alice = owner_name("pub-alice@example.org")
    records = {name.to_text(): [r.to_wire().hex() for r in rdataset]
               for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.SMIMEA) if name.to_text() != alice}
    server = Dnsmasq(require_dnsmasq(), records)
    try:
        server.start()
        source = SmimeaSource(SmimeaConfig("127.0.0.1", server.port, timeout=2))
        summary = published(filled[0], is_ours=_is_ours, ca_directory=tmp_path / "no-ca", domains=["example.org"],
                            check=[source])
    finally:
        server.cleanup()
    assert [(c.address, c.status, c.detail) for c in summary.missing] == [("pub-alice@example.org", "missing", None)]
    found = {c["address"]: c["found"] for c in summary.to_dict()["certificates"]}
    assert found["pub-imported@example.org"] == {"smimea": {"status": "published", "detail": None}}


@pytest.mark.interop
def test_ldif_loaded_by_ldapadd_is_found_by_the_ldap_lookup(filled: tuple[Store, dict[str, User]], tmp_path: Path,
                                                           pki: TestPKI) -> None:
    ldapadd = shutil.which("ldapadd")
    if ldapadd is None:
        pytest.skip("ldapadd not installed (Debian package ldap-utils)")
    sel = _selection(filled, tmp_path)
    path = tmp_path / "people.ldif"
    path.write_text(ldif(sel, PEOPLE, smime_bundle=True), encoding="utf-8")
    server = Slapd(require_slapd())
    try:
        server.start()
        done = subprocess.run([ldapadd, "-x", "-H", server.url, "-D", ROOT_DN, "-w", ROOT_PW, "-f", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("adding new entry") == 4
        source = LdapSource(LdapConfig(url=server.url, base_dn=SUFFIX, timeout=3))
        for pub in sel.certificates:
            found = source.search(pub.address)
            assert found.error is None and found.skipped == (), pub.address
            assert pub.certificate in found.certificates and set(pub.chain) <= set(found.certificates)
        context = ValidationContext(trust=TrustStore(anchors=(pki.root_cert,)), revocation_mode="off")
        lookup = CertificateLookup(None, [source], context=context, store_found=False)
        # The chain came with userSMIMECertificate: the path validates without any intermediate configured.
        # (Found in both attributes, so the lookup returns it twice: it does not merge duplicates.)
        assert set(lookup.find("pub-ec@example.net")) == {filled[1]["ec"].cert}
        assert {c.status for c in check_publication(sel, [source])} == {"published"}
        with server.admin() as conn:
            conn.search(entry_dn("zoe+news,x@example.org", PEOPLE), "(objectClass=*)", search_scope="BASE",
                        attributes=["cn", "mail"])
            (entry,) = conn.entries
            assert str(entry.cn) == "Zoë Plus" and str(entry.mail) == "zoe+news,x@example.org"
    finally:
        server.cleanup()


def test_ldif_is_read_back_by_mailseals_importer(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    sel = _selection(filled, tmp_path)
    text = ldif(sel, PEOPLE)
    certs, skipped = certificates_from_ldif(text.encode())
    assert skipped == [] and certs == [c.certificate for c in sel.certificates]
    assert all(len(line) <= 76 for line in text.splitlines())
    assert "cn:: " in text  # a non-ASCII value is base64 (RFC 2849 SAFE-STRING)


def test_ldif_refuses_a_base_that_is_not_a_dn(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        ldif(_selection(filled, tmp_path), "not a dn")
    assert "not an LDAP DN" in info.value.message


def _openssl_subjects(p7b: bytes, tmp_path: Path, inform: str = "DER") -> list[str]:
    path = tmp_path / "bundle.p7b"
    path.write_bytes(p7b)
    done = subprocess.run(["openssl", "pkcs7", "-inform", inform, "-in", str(path), "-print_certs", "-noout"],
                          capture_output=True, text=True, timeout=30, check=True)
    return [line for line in done.stdout.splitlines() if line.startswith("subject=")]


@pytest.mark.interop
def test_p7b_is_read_by_openssl_and_by_mailseal(filled: tuple[Store, dict[str, User]], tmp_path: Path,
                                                pki: TestPKI) -> None:
    sel = _selection(filled, tmp_path)
    leaves = [c.certificate for c in sel.certificates]
    data = p7b_bundle(sel)
    subjects = _openssl_subjects(data, tmp_path)
    assert len(subjects) == len(leaves) and any("pub-alice" in s for s in subjects)
    # certificates is a SET OF (RFC 5652 §5.1): DER orders it, so the bundle's order is not the selection's.
    assert sorted(load_certificates(data), key=fingerprint) == sorted(leaves, key=fingerprint)
    chained = set(load_certificates(p7b_bundle(sel, chain=True)))
    assert chained == {*leaves, pki.intermediate_cert, pki.root_cert}
    assert len(_openssl_subjects(p7b_bundle(sel, pem=True), tmp_path, "PEM")) == len(leaves)


@pytest.mark.interop
def test_pem_bundle_is_read_by_openssl_and_by_mailseal(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    sel = _selection(filled, tmp_path)
    pem = tmp_path / "bundle.pem"
    pem.write_text(pem_bundle(sel))
    # openssl gathers every certificate of a PEM file into a PKCS#7 with crl2pkcs7 -certfile.
    done = subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(pem), "-outform", "DER"],
                          capture_output=True, timeout=30, check=True)
    assert len(_openssl_subjects(done.stdout, tmp_path)) == len(sel.certificates)
    assert load_certificates(pem.read_bytes()) == [c.certificate for c in sel.certificates]


def test_empty_p7b_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        p7b_bundle(Selection((), (), datetime.now(UTC)))


def test_summary_says_where_each_certificate_goes(filled: tuple[Store, dict[str, User]], tmp_path: Path) -> None:
    summary = published(filled[0], is_ours=_is_ours, ca_directory=tmp_path / "no-ca", base_dn=PEOPLE,
                        params=SmimeaParameters(3, 1, 1)).to_dict()
    alice = next(c for c in summary["certificates"] if c["address"] == "pub-alice@example.org")
    assert alice["published"]["smimea"] == {"owner": owner_name("pub-alice@example.org"), "record": "SMIMEA 3 1 1"}
    assert alice["published"]["ldif"] == {"dn": f"mail=pub-alice@example.org,{PEOPLE}"}
    assert summary["domains"] == ["example.net", "example.org"]
    assert {s["address"] for s in summary["skipped"]} >= {"pub-expired@example.org", "pub-signer@example.org"}

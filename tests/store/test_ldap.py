"""LDAP certificate lookup against a real OpenLDAP slapd on 127.0.0.1 (RFC 4511 search, RFC 4515 escaping)."""

from __future__ import annotations

from collections.abc import Iterator

import ldap3
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from mailseal.store.ldap import LdapConfig, LdapSource, search_filter
from tests.support.slapd import SUFFIX, Slapd, require_slapd
from tests.support.testpki import TestPKI

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def slapd(pki: TestPKI) -> Iterator[Slapd]:
    server = Slapd(require_slapd())
    try:
        server.start()
        alice = pki.user("ldap-alice", email="ldap-alice@example.org")
        carol = pki.user("ldap-carol", email="ldap-carol@example.org")
        server.add_person("alice", alice.email, user_certificate=[alice.cert.public_bytes(Encoding.DER)])
        bundle = pkcs7.serialize_certificates([carol.cert, *carol.chain], Encoding.DER)
        server.add_person("carol", carol.email, smime=[bundle])
        server.add_person("dave", "ldap-dave@example.org", smime=[b"not a certificate"])
        yield server
    finally:
        server.cleanup()


def source(server: Slapd, **kw: object) -> LdapSource:
    return LdapSource(LdapConfig(url=server.url, base_dn=SUFFIX, timeout=3, **kw))  # type: ignore[arg-type]


def test_ldap_finds_user_certificate_binary(slapd: Slapd, pki: TestPKI) -> None:
    result = source(slapd).search("ldap-alice@example.org")
    assert result.error is None
    assert [c.serial_number for c in result.certificates] == [pki.user("ldap-alice", email="ldap-alice@example.org")
                                                              .cert.serial_number]


def test_ldap_finds_smime_certificate_pkcs7_bundle(slapd: Slapd, pki: TestPKI) -> None:
    carol = pki.user("ldap-carol", email="ldap-carol@example.org")
    result = source(slapd).search("ldap-carol@example.org")
    assert carol.cert in result.certificates
    assert pki.intermediate_cert in result.certificates  # the chain travels with it, for path validation


def test_ldap_bad_value_is_skipped_with_reason(slapd: Slapd) -> None:
    result = source(slapd).search("ldap-dave@example.org")
    assert result.error is None and result.certificates == ()
    assert len(result.skipped) == 1 and "userSMIMECertificate" in result.skipped[0].where
    assert result.skipped[0].reason


def test_ldap_injection_in_address_is_escaped(slapd: Slapd) -> None:
    evil = "*)(mail=*"
    template = "(&(mail={address})(objectClass=inetOrgPerson))"
    assert search_filter(template, evil) == r"(&(mail=\2a\29\28mail=\2a)(objectClass=inetOrgPerson))"
    result = source(slapd, filter_template=template).search(evil)
    assert result.error is None and result.certificates == () and result.skipped == ()
    # The same address pasted into the filter unescaped would have matched every entry with a mail attribute.
    with ldap3.Connection(ldap3.Server(slapd.url, get_info=ldap3.NONE), auto_bind=True) as conn:
        conn.search(SUFFIX, template.replace("{address}", evil), attributes=["mail"])
        assert len([e for e in (conn.response or []) if e["type"] == "searchResEntry"]) >= 3


def test_ldap_size_limit_is_reported(slapd: Slapd) -> None:
    result = source(slapd, filter_template="(|(mail={address})(mail=ldap-*))", size_limit=1).search("x@example.org")
    assert result.error is None
    assert any("only the first 1" in p for p in result.problems)


def test_ldap_server_down_is_an_error_not_an_exception() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = LdapSource(LdapConfig(url=f"ldap://127.0.0.1:{port}", base_dn=SUFFIX, timeout=1)).search("a@example.org")
    assert result.error is not None and result.certificates == ()


def test_ldap_config_refuses_template_without_address() -> None:
    from mailseal.errors import ConfigurationError, ErrorCode

    with pytest.raises(ConfigurationError) as info:
        LdapConfig(url="ldap://127.0.0.1:1", base_dn=SUFFIX, filter_template="(mail=x)")
    assert info.value.code == ErrorCode.CONFIGURATION and info.value.message.startswith("lookup.ldap.filter:")

"""`encrypt --to ADDR` follows the administrator's lookup order from the settings file (local, then LDAP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mailseal.errors import ConfigurationError, ErrorCode
from mailseal.store import Directory, Store
from mailseal.store.lookup_settings import lookup_from_settings
from tests.conftest import RunCli
from tests.support.slapd import SUFFIX, Slapd, require_slapd
from tests.support.testpki import TestPKI

MESSAGE = b"From: alice@example.org\r\nTo: erin@example.org\r\nSubject: s\r\n\r\nhello erin\r\n"


@pytest.fixture(scope="module")
def directory_server(pki: TestPKI) -> Iterator[Slapd]:
    server = Slapd(require_slapd())
    try:
        server.start()
        erin = pki.user("ldap-erin", email="erin@example.org")
        server.add_person("erin", erin.email, user_certificate=[erin.cert.public_bytes(Encoding.DER)])
        yield server
    finally:
        server.cleanup()


def test_encrypt_to_an_address_found_in_ldap(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path, directory_server: Slapd
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "mailseal.toml").write_text(
        f'[lookup]\norder = ["local", "ldap"]\n[lookup.ldap]\nurl = "{directory_server.url}"\n'
        f'base_dn = "{SUFFIX}"\ntimeout = 3\n'
    )
    env = {"MAILSEAL_HOME": str(home)}
    sealed = run_cli("encrypt", "--to", "erin@example.org", input=MESSAGE, env=env)
    assert sealed.returncode == 0, sealed.stderr
    erin = pki.user("ldap-erin", email="erin@example.org")
    plain = run_cli("decrypt", "--key", erin.key_path, "--cert", erin.cert_path, input=sealed.stdout)
    assert plain.returncode == 0 and plain.stdout.endswith(b"hello erin\r\n")
    filed = run_cli("certs", "find", "erin@example.org", "--json", env=env)
    assert filed.returncode == 0 and b'"ldap"' in filed.stdout  # kept with its source for next time


def test_without_settings_only_the_local_directory_is_asked(run_cli: RunCli, tmp_path: Path) -> None:
    proc = run_cli("encrypt", "--to", "erin@example.org", input=MESSAGE, env={"MAILSEAL_HOME": str(tmp_path)})
    assert proc.returncode == 2 and b"no usable certificate for erin@example.org" in proc.stderr


@pytest.mark.parametrize("bad", [
    {"lookup": {"order": ["ldap"]}}, {"lookup": {"order": ["x500"]}}, {"lookup": []},
    {"lookup": {"ttl": "an hour"}}, {"lookup": {"ttl": -1}},
    {"lookup": {"order": ["smimea"], "smimea": {"nameserver": "127.0.0.1", "port": "fifty-three"}}},
    {"lookup": {"order": ["smimea"], "smimea": {"nameserver": "127.0.0.1", "timeout": 0}}},
    {"lookup": {"order": ["ldap"], "ldap": {"url": "http://x", "base_dn": "dc=x"}}},
    {"lookup": {"order": ["ldap"], "ldap": {"url": "ldap://x", "base_dn": "dc=x", "timeout": -1}}},
    {"lookup": {"order": ["ldap"], "ldap": {"url": "ldap://x", "base_dn": "dc=x", "bind_dn": "cn=r"}}},
], ids=["ldap-without-table", "unknown-source", "not-a-table", "ttl-text", "ttl-negative", "port-text", "timeout-zero",
        "ldap-url", "ldap-timeout", "bind-dn-alone"])
def test_bad_lookup_settings_are_configuration_errors(tmp_path: Path, bad: dict[str, object]) -> None:
    directory = Directory(Store.open(f"sqlite:///{tmp_path / 's.db'}"))
    with pytest.raises(ConfigurationError) as info:
        lookup_from_settings(directory, bad)
    assert info.value.code == ErrorCode.CONFIGURATION and "lookup" in info.value.message


def test_encrypt_with_bad_lookup_settings_says_configuration(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "mailseal.toml").write_text('[lookup]\norder = ["local"]\nttl = "an hour"\n')
    proc = run_cli("encrypt", "--to", "erin@example.org", input=MESSAGE, env={"MAILSEAL_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert b"error[configuration]: lookup.ttl must be a number" in proc.stderr

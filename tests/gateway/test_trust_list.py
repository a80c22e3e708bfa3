"""The gateway trusts the same trust list as the CLI: an anchor added with `mailseal trust add --store`, and a
file list taken over into the store on first use (docs/trust.md, "Where the trust list lives")."""

from __future__ import annotations

import email.policy
from pathlib import Path

from mailseal import api
from mailseal.pki import trustlist
from mailseal.store import Store
from mailseal.store.trust import StoredTrust
from tests.conftest import run_mailseal
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, message
from tests.support.smtp_sink import SmtpSink

INTERNET = {"gateway": {"trusted_networks": []}}


def _signed_by_erin(org: Org) -> bytes:
    original = message("erin@partner.example", ["alice@example.org"], "trust", "Signed by a partner.\n")
    return api.sign(original.as_bytes(policy=email.policy.SMTP), org.identity(org.erin))


def _stamp(sink: SmtpSink) -> str:
    [got] = sink.wait_for(1)
    [stamp] = got.header("Authentication-Results")
    return stamp


def test_anchor_added_with_trust_add_store_counts_in_cli_and_gateway(
        start_gateway: StartGateway, sink: SmtpSink, org: Org, tmp_path: Path) -> None:
    home = tmp_path / "admin"
    env = {"MAILSEAL_HOME": str(home)}
    signed = tmp_path / "signed.eml"
    signed.write_bytes(_signed_by_erin(org))
    added = run_mailseal("trust", "add", "--store", org.pki.root_path, env=env)
    assert added.returncode == 0, added.stderr
    assert (home / "mailseal.db").is_file() and not (home / "trust" / "anchors.pem").exists()
    # the CLI, without --trust: the store exists, so its list is the one read
    verified = run_mailseal("verify", "-i", signed, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the gateway on the same store, with the same rule
    gw = start_gateway(INTERNET, store_url=f"sqlite:///{home / 'mailseal.db'}", trust_home=home)
    assert gw.send(signed.read_bytes(), "erin@partner.example", ["alice@example.org"]) == {}
    assert "smime=pass" in _stamp(sink)


def test_gateway_without_the_anchor_does_not_pass(
        start_gateway: StartGateway, sink: SmtpSink, org: Org, tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    gw = start_gateway(INTERNET, store_url=f"sqlite:///{home / 'mailseal.db'}", trust_home=home)
    assert gw.send(_signed_by_erin(org), "erin@partner.example", ["alice@example.org"]) == {}
    assert "smime=pass" not in _stamp(sink)


def test_gateway_takes_over_a_file_list(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                        tmp_path: Path) -> None:
    home = tmp_path / "files"
    trustlist.add([org.pki.root_cert], home=home)
    gw = start_gateway(INTERNET, store_url=f"sqlite:///{home / 'mailseal.db'}", trust_home=home)
    assert gw.send(_signed_by_erin(org), "erin@partner.example", ["alice@example.org"]) == {}
    assert "smime=pass" in _stamp(sink)
    assert trustlist.entries(home) == []  # the files were retired: the list lives in the database now
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        assert [e.certificate for e in StoredTrust(store).entries()] == [org.pki.root_cert]
    finally:
        store.close()

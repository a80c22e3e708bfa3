"""Certificate lifecycle: `certs expiring` (window, kinds, superseded certificates, exit code), the expiry metric on
the gateway's metrics endpoint, `ca crl --publish` read by openssl, `status` and the shipped systemd timers."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from mailseal.cms.names import serial_text
from mailseal.gateway.expirymetrics import ExpiryCollector
from mailseal.store import Directory, Store
from tests.conftest import RunCli
from tests.gateway.conftest import StartGateway, org, sink, start_gateway  # noqa: F401  (fixtures)
from tests.gateway.harness import Org
from tests.store.certgen import make_cert
from tests.store.conftest import postgres_url, store_url  # noqa: F401  (fixtures)
from tests.support.smtp_sink import free_port

REPO = Path(__file__).resolve().parents[2]
EXPIRY = "mailseal_certificate_expiry_timestamp_seconds"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"MAILSEAL_HOME": str(tmp_path / "home"), "MAILSEAL_CA_PASSPHRASE": "ca secret",
            "MAILSEAL_STORE_PASSPHRASE": "store secret"}


def ok(run_cli: RunCli, env: dict[str, str], *args: Any) -> str:
    done = run_cli(*args, env=env)
    assert done.returncode == 0, f"{args}: {done.stderr.decode()}"
    return done.stdout.decode()


def expiring(run_cli: RunCli, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("certs", "expiring", "--json", *args, env=env)
    assert done.returncode in (0, 1), done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, result


def test_a_certificate_ending_in_5_days_shows_one_in_400_does_not(run_cli: RunCli, env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    ok(run_cli, env, "ca", "init", "--name", "Lifecycle CA")
    for who, days in (("soon", "5"), ("late", "400")):
        ok(run_cli, env, "ca", "issue", "--email", f"{who}@example.org", "--days", days, "-o", tmp_path / f"{who}.p12",
           "--pass", "pass:x")
        ok(run_cli, env, "keys", "import", tmp_path / f"{who}.p12", "--pass", "pass:x")
    code, result = expiring(run_cli, env, "--within", "30d")
    assert code == 1 and result["expiring"] == 2
    assert [(i["kind"], i["name"]) for i in result["items"]] == [("issued", "soon@example.org"),
                                                                 ("identity", "soon@example.org")]
    assert all(i["days_left"] == 4 and not i["expired"] for i in result["items"])  # 5 days less a moment
    assert result["items"][0]["serial"] == result["items"][1]["serial"]
    text = run_cli("certs", "expiring", "--within", "30d", env=env)
    assert text.returncode == 1
    lines = text.stdout.decode().splitlines()
    assert lines[0].split() == ["KIND", "NAME", "SERIAL", "NOT", "AFTER", "DAYS", "LEFT", "WHERE"]
    assert "soon@example.org" in text.stdout.decode() and "late@example.org" not in text.stdout.decode()
    # A narrower window: nothing, exit 0; a wider one takes in the 400-day certificate.
    assert expiring(run_cli, env, "--within", "3d")[0] == 0
    assert run_cli("certs", "expiring", "--within", "3d", env=env).stdout.decode().startswith("nothing ends")
    wide = expiring(run_cli, env, "--within", "500d")[1]
    assert {i["name"] for i in wide["items"] if i["kind"] == "identity"} == {"soon@example.org", "late@example.org"}
    assert expiring(run_cli, env, "--within", "30d", "--kind", "ca")[0] == 0
    bad = run_cli("certs", "expiring", "--within", "soon", env=env)
    assert bad.returncode == 2 and bad.stderr.decode().startswith("mailseal: error[usage]: --within must be")


def test_renewed_certificates_do_not_count(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    files = {"old.pem": make_cert("renewed@partner.example", days=5),
             "new.pem": make_cert("renewed@partner.example", days=400),
             "only.pem": make_cert("only@partner.example", days=5)}
    folder = tmp_path / "certs"
    folder.mkdir()
    for name, cert in files.items():
        (folder / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ok(run_cli, env, "certs", "import", folder)
    code, result = expiring(run_cli, env, "--within", "30d", "--kind", "directory")
    assert code == 1 and [i["name"] for i in result["items"]] == ["only@partner.example"]
    everything = expiring(run_cli, env, "--within", "30d", "--kind", "directory", "--all")[1]
    assert sorted((i["name"], i["superseded"]) for i in everything["items"]) == [
        ("only@partner.example", False), ("renewed@partner.example", True)]
    assert everything["expiring"] == 1


def test_a_trust_anchor_ending_soon_shows(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    anchor = make_cert(None, ca=True, days=10)
    path = tmp_path / "anchor.pem"
    path.write_bytes(anchor.public_bytes(serialization.Encoding.PEM))
    ok(run_cli, env, "trust", "add", path)
    code, result = expiring(run_cli, env, "--within", "30d")
    assert code == 1
    assert [(i["kind"], i["serial"], i["days_left"]) for i in result["items"]] == [
        ("anchor", serial_text(anchor.serial_number), 9)]


# -- the metric --------------------------------------------------------------------------------------------------


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def test_the_metric_gives_the_end_of_a_known_certificate(start_gateway: StartGateway, org: Org) -> None:  # noqa: F811
    port = free_port()
    start_gateway({"gateway": {"metrics_listen": f"127.0.0.1:{port}"}})
    deadline = time.monotonic() + 30
    while True:  # the first figures are computed in the background right after start-up
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        if _samples(text, EXPIRY) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    series = _samples(text, EXPIRY)
    for user, kind in ((org.alice, "identity"), (org.bob, "identity"), (org.carol, "directory")):
        key = (("kind", kind), ("name", user.email), ("serial", serial_text(user.cert.serial_number)))
        assert series[key] == user.cert.not_valid_after_utc.timestamp()
    watched = _samples(text, "mailseal_certificates_watched")
    assert watched[(("kind", "identity"),)] == 2 and watched[(("kind", "directory"),)] == 1
    refreshed = _samples(text, "mailseal_certificate_expiry_refresh_timestamp_seconds")[()]
    assert abs(refreshed - time.time()) < 3600
    # Every metric the documented alert rules use is one the endpoint serves.
    rules = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8").split("## Alert rules", 1)[1]
    used = set(re.findall(r"\bmailseal_[a-z_]+", rules))
    assert used and {name for name in used if name not in text} == set()


def test_the_metric_keeps_the_soonest_of_a_large_directory(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    """The SQL that picks each address's last certificate, on SQLite and PostgreSQL."""
    store = Store.open(store_url)
    try:
        directory = Directory(store)
        certs = {days: make_cert(f"p{days}@partner.example", days=days) for days in (40, 10, 30, 20, 50)}
        for cert in certs.values():
            directory.add(cert)
        directory.add(make_cert("p10@partner.example", days=5))  # superseded by the 10-day one
        collector = ExpiryCollector(store, per_kind=2, ca_directory=tmp_path / "no-ca", home=tmp_path)
        collector.refresh()
        families = {f.name: f for f in collector.collect()}
        shown = [(s.labels["name"], s.value) for s in families[EXPIRY].samples if s.labels["kind"] == "directory"]
        assert shown == [("p10@partner.example", certs[10].not_valid_after_utc.timestamp()),
                         ("p20@partner.example", certs[20].not_valid_after_utc.timestamp())]
        watched = {s.labels["kind"]: s.value for s in families["mailseal_certificates_watched"].samples}
        assert watched["directory"] == 5
    finally:
        store.close()


# -- the CRL -----------------------------------------------------------------------------------------------------


def _openssl_crl(path: Path, form: str) -> str:
    done = subprocess.run(["openssl", "crl", "-inform", form, "-noout", "-text", "-in", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_crl_publish_writes_what_openssl_reads_and_status_shows_the_next_update(
        run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    ok(run_cli, env, "ca", "init", "--name", "Lifecycle CA", "--crl-url", "http://pki.example.org/crl/example.crl")
    issued = ok(run_cli, env, "ca", "issue", "--email", "gone@example.org", "-o", tmp_path / "gone.p12",
                "--pass", "pass:x")
    serial = issued.split()[1]
    ok(run_cli, env, "ca", "revoke", serial, "--reason", "keyCompromise")
    www = tmp_path / "www"
    www.mkdir()
    done = run_cli("ca", "crl", "--publish", www, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b""  # the CRL went to the folder, not to stdout
    published = www / "example.crl"  # the file name of the CRL URL
    text = _openssl_crl(published, "DER")
    assert "Issuer: CN = Lifecycle CA" in text and "Key Compromise" in text
    assert serial.upper() in text.replace(":", "").upper()
    crl = x509.load_der_x509_crl(published.read_bytes())
    assert crl.next_update_utc is not None
    # Again: the file is replaced (CRL number 2), nothing else is left in the folder.
    ok(run_cli, env, "ca", "crl", "--publish", www)
    assert [p.name for p in www.iterdir()] == ["example.crl"]
    again = x509.load_der_x509_crl(published.read_bytes())
    assert again.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    # A file name, PEM.
    pem = tmp_path / "www" / "ca.pem.crl"
    ok(run_cli, env, "ca", "crl", "--publish", pem, "--format", "pem")
    assert "Lifecycle CA" in _openssl_crl(pem, "PEM")
    missing = run_cli("ca", "crl", "--publish", tmp_path / "nowhere" / "x.crl", env=env)
    assert missing.returncode == 2 and "folder does not exist" in missing.stderr.decode()
    # status: the last CRL's next update and number.
    latest = x509.load_der_x509_crl((Path(env["MAILSEAL_HOME"]) / "ca" / "crl.der").read_bytes())
    assert latest.next_update_utc is not None
    when = latest.next_update_utc.isoformat().replace("+00:00", "Z")
    facts = json.loads(ok(run_cli, env, "status", "--json"))
    assert facts["ca"]["crl"]["next_update"] == when and facts["ca"]["crl"]["number"] == "3"
    assert f"next CRL update: {when} (CRL 3)" in ok(run_cli, env, "status")


def test_status_lists_what_ends_soon(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    ok(run_cli, env, "ca", "init", "--name", "Status CA")
    ok(run_cli, env, "ca", "issue", "--email", "soon@example.org", "--days", "5", "-o", tmp_path / "s.p12",
       "--pass", "pass:x")
    text = ok(run_cli, env, "status")
    assert "next CRL update: no CRL yet" in text
    assert "expiring within 30 days: 1" in text and "issued soon@example.org" in text
    facts = json.loads(ok(run_cli, env, "status", "--json"))
    assert [(i["kind"], i["name"]) for i in facts["expiring"]["items"]] == [("issued", "soon@example.org")]
    assert facts["policy"] == {"sign": None, "encrypt": None, "rules": 0, "domains": 0, "users": 0}
    assert datetime.fromisoformat(facts["ca"]["not_after"]) > datetime.now(UTC)


# -- the shipped timers ------------------------------------------------------------------------------------------


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((REPO / "deploy" / "systemd" / name).read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("name", ["mailseal-crl.service", "mailseal-crl.timer", "mailseal-expiring.service",
                                  "mailseal-expiring.timer"])
def test_the_units_are_shipped_and_documented(name: str) -> None:
    monitoring = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    assert f"deploy/systemd/{name}" in monitoring
    unit = _unit(name)
    if name.endswith(".timer"):
        assert unit["Timer"]["OnCalendar"] and unit["Timer"]["Persistent"] == "true"
        assert unit["Install"]["WantedBy"] == "timers.target"
    else:
        command = unit["Service"]["ExecStart"].split()
        assert unit["Service"]["Type"] == "oneshot" and command[0].endswith("/mailseal")
        assert command[2:4] == (["ca", "crl"] if "crl" in name else ["certs", "expiring"])
        if "crl" in name:
            assert "--publish" in command


def test_the_unit_commands_are_real_options(run_cli: RunCli) -> None:
    """The units' command lines parse: --help after them is answered by that very command."""
    for name in ("mailseal-crl.service", "mailseal-expiring.service"):
        words = _unit(name)["Service"]["ExecStart"].split()[1:]
        done = run_cli(*words, "--help")
        assert done.returncode == 0, done.stderr.decode()

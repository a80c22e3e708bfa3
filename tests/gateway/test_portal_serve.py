"""`mailseal serve` (worker processes) on the demo's settings: mail for the outside recipient without a certificate
is deposited and his notification relayed; what the portal queues is drained by the running service."""

from __future__ import annotations

import email.policy
import json
import signal
import smtplib
import subprocess
import sys
from pathlib import Path

from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.store.portal_key import portal_key
from tests.conftest import RunCli
from tests.gateway.harness import message
from tests.gateway.test_serve import _demo_setup
from tests.support.processes import wait_port
from tests.support.smtp_sink import SmtpSink, free_port

MARKER = "SERVE-PORTAL-MARKER-91c2"


def test_serve_deposits_notifies_and_drains(tmp_path: Path, run_cli: RunCli) -> None:
    port, sink_port = free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    text = settings.read_text().replace("[gateway]\n", "[gateway]\nworker_processes = 1\n", 1)
    settings.write_text(text.replace('listen = "127.0.0.1:8444"', f'listen = "127.0.0.1:{free_port()}"'))
    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(port, proc, timeout=60)
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("alice@example.org", ["dave@outside.example"], message(
                    "alice@example.org", ["dave@outside.example"], "contract", f"{MARKER}\n").as_bytes(
                    policy=email.policy.SMTP))
            [notice] = sink.wait_for(1, timeout=60)
            assert notice.rcpt_tos == ["dave@outside.example"] and MARKER.encode() not in notice.data
            assert b"/m/" in notice.data and b"multipart/signed" in notice.data  # alice's key signs it
            store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
            try:
                PortalStore(store, portal_key(home / "portal.key", create=False)).queue(
                    "passcode", "portal@example.org", ["dave@outside.example"],
                    b"From: portal@example.org\r\nTo: dave@outside.example\r\nSubject: code\r\n\r\n12345678\r\n")
            finally:
                store.close()
            passcode = sink.wait_for(2, timeout=60)[1]
            assert passcode.rcpt_tos == ["dave@outside.example"] and b"12345678" in passcode.data
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    listed = json.loads(run_cli("portal", "list", "--json", env=env).stdout)["messages"]
    assert [m["recipients"][0]["address"] for m in listed] == ["dave@outside.example"]
    for path in [home / "mailseal.db", *home.glob("mailseal.db-*"), *(home / "spool").rglob("*")]:
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path


def test_serve_refuses_to_start_with_a_bad_portal_key(tmp_path: Path) -> None:
    home, env = _demo_setup(tmp_path)
    (home / "portal.key").write_text("not a key\n")
    done = subprocess.run([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                           f"127.0.0.1:{free_port()}", "--next-hop", f"127.0.0.1:{free_port()}"],
                          cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 78, done.stderr.decode()
    assert b"error[configuration]" in done.stderr and b"portal key file" in done.stderr
    assert b"Traceback" not in done.stderr


def test_check_config_checks_and_names_the_portal(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    base = ('[gateway]\nnext_hop = "127.0.0.1:2526"\naccepted_domains = ["example.org"]\n'
            '[policy]\nencrypt = "encrypt-or-portal"\n[portal]\nbase_url = "https://portal.example.org/"\n'
            '[portal.brands."example.org"]\nbackground_colour = "#003366"\n')
    config.write_text(base)
    done = run_cli("serve", "--check-config", "--config", config, env={"MAILSEAL_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr
    assert "portal: links https://portal.example.org/m/..., expiry 14 days, brands: example.org" in done.stdout.decode()
    config.write_text(base + 'subject = "secret"\n')
    done = run_cli("serve", "--check-config", "--config", config, env={"MAILSEAL_HOME": str(tmp_path / "home")})
    assert done.returncode == 78 and b'portal.brands."example.org".subject' in done.stderr

"""The Held endpoints as the commands serve them, in their own processes: `mailseal serve` with a [web] table
hands the console the running gateway's held messages (hold a message over SMTP, import the recipient's
certificate, release it through /api/v1/held: the sink gets it encrypted), `mailseal web` the settings file's
(a release builds a gateway from the settings); without a [gateway] table it has none."""

from __future__ import annotations

import email.policy
import os
import signal
import smtplib
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.store import Directory, Store, events
from mailseal.store.admins import Admins
from mailseal.store.apitokens import ApiTokens
from mailseal.store.trust import StoredTrust
from tests.conftest import cli_env
from tests.gateway.harness import BASE_SETTINGS, Org, merged, message, to_toml
from tests.store.conftest import PASSPHRASE
from tests.support.processes import wait_port
from tests.support.smtp_sink import SmtpSink, free_port
from tests.support.testpki import TestPKI
from tests.web.conftest import FAST, PASSWORD
from tests.web.held_support import DAVE, ERIN, HOLD
from tests.web.test_cli import _serve


def _home(pki: TestPKI, tmp_path: Path, sink: SmtpSink, web_port: int, smtp_port: int) -> tuple[Path, str, Org]:
    """A data directory: the test organisation's keys, its root trusted, an admin with an API token, and a
    settings file that holds partner.example mail without a certificate; (settings file, token, org)."""
    org = Org.make(pki)
    home = tmp_path / "home"
    home.mkdir()
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        org.populate(store)
        StoredTrust(store).add([org.pki.root_cert], actor="test")
        Admins(store, hasher=FAST).add("root", PASSWORD, "admin", actor="test")
        token, _ = ApiTokens(store).create("root", "held test", "admin")
    finally:
        store.close()
    settings: dict[str, Any] = merged(merged(BASE_SETTINGS, HOLD), {
        "gateway": {"listen": f"127.0.0.1:{smtp_port}", "next_hop": "{}:{}".format(*sink.address),
                    "spool_dir": str(home / "spool"), "held_dir": str(home / "held")},
        "web": {"listen": f"127.0.0.1:{web_port}"}})
    config = home / "mailseal.toml"
    config.write_text(to_toml(settings))
    return config, token, org


def _env(config: Path) -> dict[str, str]:
    env = cli_env({"MAILSEAL_HOME": str(config.parent), "MAILSEAL_STORE_PASSPHRASE": PASSPHRASE.decode()})
    env.pop("MAILSEAL_CONFIG", None)
    env.pop("MAILSEAL_STORE_KEYFILE", None)
    return env


def _send(port: int, rcpts: list[str], body: str) -> None:
    data = message("alice@example.org", rcpts, "held", body).as_bytes(policy=email.policy.SMTP)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("alice@example.org", rcpts, data) == {}


def test_serve_releases_held_mail_through_the_console(pki: TestPKI, tmp_path: Path) -> None:
    smtp_port, web_port = free_port(), free_port()
    with SmtpSink() as sink:
        config, token, org = _home(pki, tmp_path, sink, web_port, smtp_port)
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(config)],
                                env=_env(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(smtp_port, proc)
            _send(smtp_port, [ERIN], "The plan, for erin.\n")
            wait_port(web_port, proc)
            bearer = {"Authorization": f"Bearer {token}"}
            listed = httpx.get(f"http://127.0.0.1:{web_port}/api/v1/held", headers=bearer, timeout=30).json()
            [item] = listed["items"]
            assert item["recipients"] == [ERIN] and sink.messages == []
            # her certificate imported (into the store the gateway reads), then released: encrypted for her
            store = Store.open(f"sqlite:///{config.parent / 'mailseal.db'}")
            try:
                Directory(store).add(org.erin.cert, "imported")
            finally:
                store.close()
            done = httpx.post(f"http://127.0.0.1:{web_port}/api/v1/held/{item['id']}/release", json={},
                              headers=bearer, timeout=60)
            assert done.status_code == 200, done.text
            assert done.json()["actions"] == ["encrypted", "signed"]
            [copy] = sink.wait_for(1)
            erin = Identity(org.erin.key, org.erin.cert, tuple(org.erin.chain))  # type: ignore[arg-type]
            assert b"The plan, for erin." not in copy.data
            assert b"The plan, for erin." in api.decrypt(copy.data, erin)
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    store = Store.open(f"sqlite:///{config.parent / 'mailseal.db'}")
    try:
        [released] = events(store, action="gateway.release")
        assert released.actor.startswith("web:root token ")
    finally:
        store.close()


def test_web_releases_and_deletes_from_the_settings_held_dir(pki: TestPKI, tmp_path: Path) -> None:
    smtp_port, web_port = free_port(), free_port()
    with SmtpSink() as sink:
        config, token, _org = _home(pki, tmp_path, sink, web_port, smtp_port)
        # the gateway holds two messages, then stops: `mailseal web` alone finds them in gateway.held_dir
        gateway = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(config)],
                                   env=_env(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(smtp_port, gateway)
            _send(smtp_port, [DAVE], "For dave, plain.\n")
            _send(smtp_port, [DAVE], "For dave, never.\n")
        finally:
            gateway.send_signal(signal.SIGTERM)
            gateway.communicate(timeout=30)
        # `mailseal web` serves the [web] table alone (the gateway's console would take the same port)
        proc = _serve(_env(config), config, f"mailseal console on http://127.0.0.1:{web_port}/")
        try:
            base = f"http://127.0.0.1:{web_port}/api/v1/held"
            bearer = {"Authorization": f"Bearer {token}"}
            items = httpx.get(base, headers=bearer, timeout=30).json()["items"]
            assert len(items) == 2 and {i["recipients"][0] for i in items} == {DAVE}
            first, second = (i["id"] for i in items)
            done = httpx.post(f"{base}/{first}/release", json={"unencrypted": True}, headers=bearer, timeout=60)
            assert done.status_code == 200, done.text
            assert done.json()["unencrypted"] is True
            [plain] = sink.wait_for(1)
            assert plain.rcpt_tos == [DAVE] and b"For dave, " in plain.data
            assert httpx.delete(f"{base}/{second}", headers=bearer, timeout=30).status_code == 204
            assert httpx.get(base, headers=bearer, timeout=30).json()["items"] == []
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    assert len(sink.messages) == 1


def test_web_without_a_gateway_table_has_no_held_mail(tmp_path: Path) -> None:
    # what `mailseal web` hands the console: nothing without a [gateway] table (the page then says why,
    # test_held_pages.py), the settings file's held messages with one
    from mailseal.cli.web import _held

    store = Store.open(f"sqlite:///{tmp_path / 'mailseal.db'}")
    try:
        assert _held({"web": {"listen": "127.0.0.1:8444"}}, store) is None
        found = _held({"gateway": {"next_hop": "127.0.0.1:25", "held_dir": str(tmp_path / "held")}}, store)
        assert found is not None and found.list() == []
    finally:
        store.close()

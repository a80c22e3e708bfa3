"""`mailseal admins` and `mailseal web`: accounts from the command line (a generated password printed once, never a
hash), and the console served alone, plain HTTP on loopback only."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mailseal.store import Store, events
from mailseal.store.admins import Admins
from tests.conftest import cli_env, run_mailseal
from tests.gateway.harness import client_tls, tls_files
from tests.support.smtp_sink import free_port


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"MAILSEAL_HOME": str(tmp_path / "home")}


def _ok(*args: str, env: dict[str, str], input: bytes | None = None) -> str:
    done = run_mailseal(*args, env=env, input=input)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_admins_add_list_passwd_remove(home: dict[str, str], tmp_path: Path) -> None:
    out = _ok("admins", "add", "root", env=home)
    assert out.startswith("added root (admin)\npassword: ")
    password = out.splitlines()[1].removeprefix("password: ")
    assert len(password) >= 20
    assert _ok("admins", "add", "eve", "--role", "auditor", "--password-stdin", env=home,
               input=b"another long password\n") == "added eve (auditor)\n"
    listed = json.loads(_ok("admins", "list", "--json", env=home))["admins"]
    assert [(a["name"], a["role"], a["totp_enrolled"]) for a in listed] == [("eve", "auditor", False),
                                                                           ("root", "admin", False)]
    assert password not in json.dumps(listed) and "argon2" not in json.dumps(listed)
    store = Store.open(f"sqlite:///{tmp_path / 'home' / 'mailseal.db'}")
    try:
        assert Admins(store).verify_password("root", password) is not None
        new = _ok("admins", "passwd", "root", env=home).splitlines()[1].removeprefix("password: ")
        assert Admins(store).verify_password("root", password) is None
        assert Admins(store).verify_password("root", new) is not None
        assert _ok("admins", "totp-reset", "root", env=home).startswith("second factor reset for root")
        token = _ok("admins", "token", "root", "backup", "--scope", "admin", env=home)
        assert token.startswith("token 1 (admin) for root: mst_")
        _ok("admins", "remove", "eve", env=home)
        assert [a.name for a in Admins(store).list()] == ["root"]
        assert [e.action for e in events(store) if e.action.startswith("admins")] == [
            "admins.add", "admins.add", "admins.password", "admins.totp-reset", "admins.remove"]
    finally:
        store.close()


def test_admins_errors_are_one_line(home: dict[str, str]) -> None:
    _ok("admins", "add", "root", env=home)
    for args in (("admins", "add", "root"), ("admins", "passwd", "nobody"), ("admins", "remove", "nobody")):
        done = run_mailseal(*args, env=home)
        err = done.stderr.decode()
        assert done.returncode == 2 and err.startswith("mailseal: error[usage]: ") and len(err.splitlines()) == 1
    short = run_mailseal("admins", "add", "x", "--password-stdin", env=home, input=b"short\n")
    assert short.returncode == 2 and b"too short" in short.stderr


def test_admins_keys_list_and_remove(home: dict[str, str], tmp_path: Path) -> None:
    from mailseal.store.securitykeys import RelyingParty, SecurityKeys
    from tests.support.authenticator import SoftAuthenticator, b64url

    _ok("admins", "add", "root", env=home)
    assert _ok("admins", "keys", "root", env=home) == ""
    store = Store.open(f"sqlite:///{tmp_path / 'home' / 'mailseal.db'}")
    try:
        keys, rp, device = SecurityKeys(store), RelyingParty("localhost", "http://localhost:8443"), SoftAuthenticator()
        options, challenge = keys.registration_options("root", rp)
        added = keys.register("root", rp, challenge, device.create(options, rp.origin), "blue key", actor="test")
        assert _ok("admins", "keys", "root", env=home) == f"{added.id}\tblue key\tnfc,usb\tnever\n"
        listed = json.loads(_ok("admins", "keys", "root", "--json", env=home))
        assert listed["account"] == "root" and listed["security_keys"] == [added.to_dict()]
        assert listed["security_keys"][0]["credential_id"] == b64url(device.credential_id)
        for args in (("admins", "keys", "nobody"), ("admins", "key-remove", "root", str(added.id + 1))):
            done = run_mailseal(*args, env=home)
            err = done.stderr.decode()
            assert done.returncode == 2 and err.startswith("mailseal: error[usage]: ") and len(err.splitlines()) == 1
        assert _ok("admins", "key-remove", "root", str(added.id), env=home) == (
            f"removed security key {added.id} (blue key) of root\n")
        assert keys.list("root") == []
        assert [e.action for e in events(store) if e.action.startswith("admins.webauthn")] == [
            "admins.webauthn-add", "admins.webauthn-remove"]
    finally:
        store.close()


def test_web_refuses_plain_http_off_loopback(home: dict[str, str], tmp_path: Path) -> None:
    settings = tmp_path / "mailseal.toml"
    settings.write_text('[web]\nlisten = "0.0.0.0:8443"\n')
    done = run_mailseal("web", "--config", str(settings), env=home)
    err = done.stderr.decode()
    assert done.returncode != 0 and "Traceback" not in err
    assert err.startswith("mailseal: error[configuration]: web.listen 0.0.0.0:8443 is not a loopback address")


def _serve(home: dict[str, str], settings: Path, marker: str) -> subprocess.Popen[bytes]:
    """`mailseal web` started, once it says ``marker`` on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "web", "--config", str(settings)],
                            env=cli_env(home), stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    said, deadline = b"", time.monotonic() + 60
    while b"mailseal console on" not in said and time.monotonic() < deadline and proc.poll() is None:
        if selector.select(timeout=1):
            said += os.read(proc.stderr.fileno(), 4096)
    if marker.encode() not in said:
        os.killpg(proc.pid, signal.SIGTERM)
        raise AssertionError(said.decode())
    return proc


def test_web_serves_the_console(home: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    settings = tmp_path / "mailseal.toml"
    settings.write_text(f'[web]\nlisten = "127.0.0.1:{port}"\n')
    proc = _serve(home, settings, f"mailseal console on http://127.0.0.1:{port}/")
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/login")
        assert answer.status_code == 200 and "Sign in" in answer.text
        assert "nonce-" in answer.headers["content-security-policy"]
        assert "strict-transport-security" not in answer.headers
        assert (tmp_path / "home" / "console.key").stat().st_mode & 0o777 == 0o600
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_web_serves_tls_with_hsts(home: dict[str, str], tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    port = free_port()
    settings = tmp_path / "mailseal.toml"
    settings.write_text(f'[web]\nlisten = "127.0.0.1:{port}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    proc = _serve(home, settings, f"mailseal console on https://127.0.0.1:{port}/")
    try:
        answer = httpx.get(f"https://127.0.0.1:{port}/login", verify=client_tls())
        assert answer.status_code == 200 and answer.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)  # no plain HTTP on the TLS port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_serve_check_config_checks_the_web_table(home: dict[str, str], tmp_path: Path) -> None:
    settings = tmp_path / "mailseal.toml"
    base = ('[gateway]\nlisten = "127.0.0.1:2525"\nnext_hop = "127.0.0.1:2526"\n'
            'accepted_domains = ["example.org"]\n')
    settings.write_text(base + '[web]\nlisten = "127.0.0.1:8450"\n')
    done = run_mailseal("serve", "--check-config", "--json", "--config", str(settings), env=home)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["console"] == "http://127.0.0.1:8450/"
    settings.write_text(base + '[web]\nlisten = "192.0.2.1:8443"\n')
    refused = run_mailseal("serve", "--check-config", "--config", str(settings), env=home)
    assert refused.returncode == 78  # EX_CONFIG, as every other configuration error
    assert refused.stderr.decode().startswith("mailseal: error[configuration]: web.listen 192.0.2.1:8443")
    settings.write_text(base + '[web]\nlisten = "127.0.0.1:8450"\nidle = 5\n')
    unknown = run_mailseal("serve", "--check-config", "--config", str(settings), env=home)
    assert unknown.returncode == 78 and b"unknown setting web.idle" in unknown.stderr

"""`mailseal web --portal`: the recipient portal served alone on its own listener ([portal] listen), with its
strict CSP; plain HTTP refused off loopback, as for the console."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mailseal.web.portal_app import PORTAL_CSP
from tests.conftest import cli_env, run_mailseal
from tests.support.smtp_sink import free_port


def test_web_portal_serves_the_portal(tmp_path: Path) -> None:
    home = {"MAILSEAL_HOME": str(tmp_path / "home")}
    port = free_port()
    settings = tmp_path / "mailseal.toml"
    settings.write_text(f'[portal]\nlisten = "127.0.0.1:{port}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "web", "--portal", "--config",
                             str(settings)], env=cli_env(home), stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stderr is not None
    try:
        selector = selectors.DefaultSelector()
        selector.register(proc.stderr, selectors.EVENT_READ)
        said, deadline = b"", time.monotonic() + 60
        while b"mailseal portal on" not in said and time.monotonic() < deadline and proc.poll() is None:
            if selector.select(timeout=1):
                said += os.read(proc.stderr.fileno(), 4096)
        assert f"mailseal portal on http://127.0.0.1:{port}/".encode() in said, said.decode()
        answer = httpx.get(f"http://127.0.0.1:{port}/m/{'x' * 43}")
        assert answer.status_code == 404 and "This link is not valid" in answer.text
        assert answer.headers["content-security-policy"] == PORTAL_CSP
        assert (tmp_path / "home" / "portal.key").stat().st_mode & 0o777 == 0o600
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_web_portal_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    settings = tmp_path / "mailseal.toml"
    settings.write_text('[portal]\nlisten = "0.0.0.0:8444"\n')
    done = run_mailseal("web", "--portal", "--config", str(settings), env={"MAILSEAL_HOME": str(tmp_path / "h")})
    err = done.stderr.decode()
    assert done.returncode != 0 and "Traceback" not in err and "portal.listen 0.0.0.0:8444 is not a loopback" in err

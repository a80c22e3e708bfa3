"""`mailseal serve` on the demo's settings serves the recipient portal on its own listener ([portal] listen) next
to the gateway: the notification's link, taken from the sink, opens the portal's landing page."""

from __future__ import annotations

import email.policy
import os
import re
import selectors
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mailseal import api
from mailseal.web.portal_app import PORTAL_CSP
from tests.gateway.harness import message
from tests.gateway.test_serve import _demo_setup
from tests.support.smtp_sink import SmtpSink, free_port


def test_serve_serves_the_portal_beside_the_gateway(tmp_path: Path) -> None:
    port, sink_port, portal_port = free_port(), free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    text = re.sub(r'(\[portal\]\n(?:.*\n)*?)listen = "127\.0\.0\.1:\d+"', rf'\1listen = "127.0.0.1:{portal_port}"',
                  settings.read_text(), count=1)
    settings.write_text(re.sub(r'base_url = "http://127\.0\.0\.1:\d+/"', f'base_url = "http://127.0.0.1:{portal_port}/"',
                               text, count=1))
    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stderr=subprocess.PIPE, start_new_session=True)
        assert proc.stderr is not None
        try:
            selector = selectors.DefaultSelector()
            selector.register(proc.stderr, selectors.EVENT_READ)
            said, deadline = b"", time.monotonic() + 90
            while b"mailseal portal on" not in said and time.monotonic() < deadline and proc.poll() is None:
                if selector.select(timeout=1):
                    said += os.read(proc.stderr.fileno(), 4096)
            assert f"mailseal portal on http://127.0.0.1:{portal_port}/".encode() in said, said.decode()
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("alice@example.org", ["dave@outside.example"], message(
                    "alice@example.org", ["dave@outside.example"], "contract", "see the portal\n").as_bytes(
                    policy=email.policy.SMTP))
            [notice] = sink.wait_for(1, timeout=60)
            opened = api.open(notice.data).message.decode("utf-8", "replace")
            found = re.search(rf"http://127\.0\.0\.1:{portal_port}/m/[A-Za-z0-9_-]{{43}}", opened.replace("=\r\n", ""))
            assert found is not None, opened[:2000]
            landing = httpx.get(found.group(0))
            assert landing.status_code == 200 and "Send me a one-time passcode" in landing.text
            assert landing.headers["content-security-policy"] == PORTAL_CSP
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0

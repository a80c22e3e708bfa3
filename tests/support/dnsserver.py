"""A throwaway dnsmasq for tests serving SMIMEA (type 53) records on 127.0.0.1 and a free port, nothing else.

``--no-resolv --no-hosts`` and no upstream server: dnsmasq answers only the records given with ``--dns-rr`` and
never forwards a query. Queries are logged to a file so that tests can count them. Skips when dnsmasq is missing
(Debian ``dnsmasq-base``), fails under ``MAILSEAL_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.processes import terminate

START_TIMEOUT = 10.0


def require_dnsmasq() -> str:
    path = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.access("/usr/sbin/dnsmasq", os.X_OK) else None)
    if path is not None:
        return path
    message = "peer dnsmasq not installed (Debian package dnsmasq-base)"
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"{message}, and MAILSEAL_REQUIRE_PEERS=1")
    pytest.skip(message)


def _free_port() -> int:
    # dnsmasq listens on UDP and TCP: pick a port free for both.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for dnsmasq")


def smimea_rdata(usage: int, selector: int, matching_type: int, data: bytes) -> str:
    """The RFC 8162 §2 wire form of one SMIMEA record's data, in hex for ``--dns-rr``."""
    return bytes([usage, selector, matching_type]).hex() + data.hex()


class Dnsmasq:
    """dnsmasq answering ``records`` (owner name without trailing dot -> list of SMIMEA rdata in hex)."""

    def __init__(self, binary: str, records: dict[str, list[str]], domains: tuple[str, ...] = ("example.org",),
                 extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.extra_args = extra_args  # more records, e.g. --txt-record=NAME,TEXT or --host-record=NAME,ADDRESS
        self.records = records
        self.domains = domains
        self.root = Path(tempfile.mkdtemp(prefix="mailseal-dnsmasq-"))
        self.port = _free_port()
        self.log = self.root / "dnsmasq.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [self.binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               "--no-poll", "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
               "--log-queries", "--log-facility=-", f"--pid-file={self.root / 'dnsmasq.pid'}", "--cache-size=0"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        # Local domains get NXDOMAIN for names without records instead of REFUSED (there is no upstream).
        cmd += [f"--local=/{domain}/" for domain in self.domains]
        for name, datas in self.records.items():
            cmd += [f"--dns-rr={name.rstrip('.')},53,{data}" for data in datas]
        cmd += list(self.extra_args)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited ({self.proc.returncode}): {self.log.read_text(errors='replace')[-800:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsmasq did not start listening in time")

    def queries(self) -> int:
        """How many queries dnsmasq has logged so far."""
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if " query[" in line)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

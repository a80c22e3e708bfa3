"""A private Postfix instance for tests, wired as in docs/deploy.md: public smtpd -> content filter -> re-injection.

Everything lives in one temporary directory: ``etc/`` (main.cf, master.cf, given to ``postfix -c``), ``spool/``
(queue_directory), ``data/`` (data_directory) and ``maillog`` (Postfix 3.4+ ``maillog_file`` via the ``postlog``
service, no syslog needed). The system Postfix is never touched: /etc/postfix is only read (``meta_directory``
holds postfix-files and dynamicmaps.cf), the default instance is never started, and every listener is on
127.0.0.1 and a port picked at run time.

Mail flows like this (ports are attributes of :class:`PostfixInstance`)::

    client -> public_port (smtpd, content_filter=mailseal:[filter])
           -> filter (whatever listens there: the stand-in in tests/postfix, later ``mailseal serve``)
           -> reinject_port (smtpd, content_filter empty) -> relayhost = sink

The queue timers are shortened (1 s) so that deferred mail is retried within seconds. Needs the Debian
``postfix`` package and root (``postfix start``); skips otherwise and fails under ``MAILSEAL_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.support.smtp_sink import free_port

__all__ = [
    "FAST_RETRY_MAIN_CF",
    "MYHOSTNAME",
    "PostfixError",
    "PostfixInstance",
    "filter_main_cf",
    "filter_master_cf",
    "process_running",
    "require_postfix",
    "running_postfix",
]

COMMAND_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: The name the test Postfix greets with; the sink and the stand-in filter use other names, so Received headers
#: show which hop added them.
MYHOSTNAME = "postfix.mailseal.test"
#: Log lines of the test instances carry this name, so they are easy to tell from the system Postfix.
SYSLOG_NAME = "postfix-mailseal-test"
#: The master.cf service name of the content-filter transport (docs/deploy.md uses the same).
FILTER_TRANSPORT = "mailseal"
#: Postfix's own message size limit on the re-injection listener: S/MIME output is about 1.4 times its input
#: (base64), so the listener that takes mailseal's output must allow more than the public one does.
REINJECT_MESSAGE_SIZE_LIMIT = 104857600

#: Test-only queue timers: retry deferred mail after about a second instead of minutes.
FAST_RETRY_MAIN_CF = (
    "queue_run_delay = 1s",
    "minimal_backoff_time = 1s",
    "maximal_backoff_time = 2s",
)


class PostfixError(AssertionError):
    """A postfix command failed or the instance did not reach the expected state; carries the log tail."""


def require_postfix() -> str:
    """Path of the ``postfix`` command; skip without it or without root, fail when MAILSEAL_REQUIRE_PEERS=1."""
    path = shutil.which("postfix") or ("/usr/sbin/postfix" if os.access("/usr/sbin/postfix", os.X_OK) else None)
    reason: str | None = None
    if path is None or shutil.which("postconf", path=str(Path(path).parent)) is None:
        reason = "peer postfix not installed (Debian package postfix)"
    elif os.geteuid() != 0:
        reason = "a private Postfix instance needs root (postfix start runs the master as root)"
    else:
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            reason = "the postfix user does not exist (reinstall the Debian package postfix)"
    if reason is None:
        assert path is not None
        return path
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"{reason}, and MAILSEAL_REQUIRE_PEERS=1")
    pytest.skip(reason)


def filter_main_cf(filter_host: str, filter_port: int) -> list[str]:
    """The main.cf lines that route every accepted message through the content filter (docs/deploy.md, mode a)."""
    return [
        "# Every message Postfix accepts is queued, then handed to mailseal through the transport",
        f'# "{FILTER_TRANSPORT}" (master.cf). Brackets: connect to this address, no MX lookup.',
        f"content_filter = {FILTER_TRANSPORT}:[{filter_host}]:{filter_port}",
        "# Rewrite addresses (canonical, virtual aliases, masquerading) once, after filtering, on re-injection.",
        "receive_override_options = no_address_mappings",
    ]


#: Idle connections each mailseal front-end process keeps open to its next hop (gateway/relay.py ConnectionPool).
POOLED_PER_FRONTEND = 32


def filter_master_cf(reinject_host: str, reinject_port: int, processes: int = 10, frontends: int = 1) -> list[str]:
    """The master.cf services of the after-queue filter: transport to mailseal, re-injection listener (sized for
    ``frontends`` mailseal front-end processes in all: nodes x gateway.processes; docs/deploy.md)."""
    reinject = frontends * POOLED_PER_FRONTEND + processes
    return [
        "# The transport to mailseal (Postfix FILTER_README, advanced content filter). maxproc caps the number of",
        "# parallel deliveries to mailseal: keep it at or below mailseal's [gateway] max_connections.",
        f"{FILTER_TRANSPORT:<9} unix  -       -       n       -       {processes:<7} smtp",
        "  -o smtp_send_xforward_command=yes",
        "  -o disable_mime_output_conversion=yes",
        "  -o smtp_generic_maps=",
        "  # A loopback hop: no STARTTLS to mailseal, whatever smtp_tls_security_level says for the Internet.",
        "  -o smtp_tls_security_level=none",
        "# Re-injection: mailseal hands the processed message back here; it is queued again and delivered,",
        "# without a second trip through the filter and without repeating checks done on the way in.",
        "# maxproc: nodes x gateway.processes x 32 idle connections kept by mailseal, plus the transport's maxproc.",
        f"{reinject_host}:{reinject_port} inet  n       -       n       -       {reinject:<7} smtpd",
        "  -o content_filter=",
        "  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters",
        "  -o smtpd_helo_restrictions=",
        "  -o smtpd_client_restrictions=",
        "  -o smtpd_sender_restrictions=",
        "  -o smtpd_relay_restrictions=",
        "  -o smtpd_recipient_restrictions=permit_mynetworks,reject",
        "  -o mynetworks=127.0.0.0/8",
        "  -o smtpd_authorized_xforward_hosts=127.0.0.0/8",
        "  # Encrypted output is about 1.4 times the input (base64): allow more here than on the public port.",
        f"  -o message_size_limit={REINJECT_MESSAGE_SIZE_LIMIT}",
    ]


#: The standard internal services (Debian's master.cf without chroot and without local/virtual/pipe delivery:
#: mydestination is empty, every message leaves by SMTP).
_INTERNAL_SERVICES = [
    "pickup    unix  n       -       n       60      1       pickup",
    "cleanup   unix  n       -       n       -       0       cleanup",
    "qmgr      unix  n       -       n       300     1       qmgr",
    "rewrite   unix  -       -       n       -       -       trivial-rewrite",
    "bounce    unix  -       -       n       -       0       bounce",
    "defer     unix  -       -       n       -       0       bounce",
    "trace     unix  -       -       n       -       0       bounce",
    "verify    unix  -       -       n       -       1       verify",
    "flush     unix  n       -       n       1000?   0       flush",
    "proxymap  unix  -       -       n       -       -       proxymap",
    "smtp      unix  -       -       n       -       -       smtp",
    "relay     unix  -       -       n       -       -       smtp",
    "showq     unix  n       -       n       -       -       showq",
    "error     unix  -       -       n       -       -       error",
    "retry     unix  -       -       n       -       -       error",
    "discard   unix  -       -       n       -       -       discard",
    "anvil     unix  -       -       n       -       1       anvil",
    "scache    unix  -       -       n       -       1       scache",
    "# Postfix 3.4+: log to maillog_file without syslog.",
    "postlog   unix-dgram n  -       n       -       1       postlogd",
]

#: Instances started and not yet stopped: stopped at interpreter exit should a test run be interrupted.
_RUNNING: dict[int, PostfixInstance] = {}


@atexit.register
def _stop_leftovers() -> None:
    for instance in list(_RUNNING.values()):
        with contextlib.suppress(Exception):
            instance.stop()


def process_running(pid: int) -> bool:
    """True while ``pid`` runs. A zombie counts as gone: PID 1 in a container may never reap the master."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class PostfixInstance:
    """One private Postfix: ``start()``/``stop()``/``cleanup()`` or ``with``; see the module docstring for the flow.

    ``filter_address`` is the content filter's (host, port): the instance does not care what listens there, or
    whether anything does yet (mail then waits in the queue). ``sink_address`` is the final destination
    (``relayhost``). The public and re-injection ports are picked when not given.
    """

    def __init__(
        self,
        *,
        filter_address: tuple[str, int],
        sink_address: tuple[str, int],
        public_port: int | None = None,
        reinject_port: int | None = None,
        relay_domains: Sequence[str] = ("example.org",),
        fast_retries: bool = True,
        binary: str = "postfix",
    ) -> None:
        self.binary = binary
        self.command_dir = Path(shutil.which(binary) or binary).parent
        self.filter_address = filter_address
        self.sink_address = sink_address
        self.public_port = free_port() if public_port is None else public_port
        self.reinject_port = free_port() if reinject_port is None else reinject_port
        self.relay_domains = tuple(relay_domains)
        self.fast_retries = fast_retries
        # A short path: Postfix's UNIX-domain sockets live under the queue directory (108-byte sun_path limit).
        self.root = Path(tempfile.mkdtemp(prefix="mailseal-pf-"))
        # The unprivileged daemons (user postfix) must reach the queue and the log through this directory.
        self.root.chmod(0o755)
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "spool"
        self.data_dir = self.root / "data"
        self.maillog_path = self.root / "maillog"
        self.master_pid: int | None = None
        #: Warnings printed by ``postfix check`` and ``postconf -n`` when the instance was started.
        self.check_warnings: list[str] = []

    # -- configuration ---------------------------------------------------------------------------------------

    @property
    def public_address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.public_port)

    @property
    def reinject_address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.reinject_port)

    def main_cf_lines(self) -> list[str]:
        sink_host, sink_port = self.sink_address
        lines = [
            "# A private test instance: own queue, data and log; the system Postfix is not involved.",
            "compatibility_level = 3.6",
            f"queue_directory = {self.queue_dir}",
            f"data_directory = {self.data_dir}",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            f"syslog_name = {SYSLOG_NAME}",
            f"maillog_file = {self.maillog_path}",
            "# maillog_file must start with one of these (default: /var, /dev/stdout).",
            f"maillog_file_prefixes = {self.root}",
            f"myhostname = {MYHOSTNAME}",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "mydestination =",
            "alias_maps =",
            "alias_database =",
            "mynetworks = 127.0.0.0/8",
            f"relay_domains = {', '.join(self.relay_domains)}",
            "# The final destination of every message is the test sink.",
            f"relayhost = [{sink_host}]:{sink_port}",
            "smtp_tls_security_level = none",
            "",
            *filter_main_cf(*self.filter_address),
        ]
        if self.fast_retries:
            lines += ["", "# Test only: retry deferred mail within seconds.", *FAST_RETRY_MAIN_CF]
        return lines

    def master_cf_lines(self) -> list[str]:
        return [
            "# service type  private unpriv  chroot  wakeup  maxproc command + args",
            "# The public SMTP server (port 25 in production).",
            f"127.0.0.1:{self.public_port} inet  n       -       n       -       -       smtpd",
            *filter_master_cf(*self.reinject_address),
            "# Internal services.",
            *_INTERNAL_SERVICES,
        ]

    def write_config(self) -> None:
        self.config_dir.mkdir(exist_ok=True)
        (self.config_dir / "main.cf").write_text("\n".join(self.main_cf_lines()) + "\n")
        (self.config_dir / "master.cf").write_text("\n".join(self.master_cf_lines()) + "\n")
        # Postfix rereads a table file until its mtime is over a second old (a guard against files still being
        # written): backdating the files saves ~2 s per postfix/postconf command.
        past = time.time() - 60
        for name in ("main.cf", "master.cf"):
            os.utime(self.config_dir / name, (past, past))
        self.queue_dir.mkdir(exist_ok=True)
        # `postfix check` creates the queue subdirectories but wants data_directory to belong to mail_owner.
        self.data_dir.mkdir(exist_ok=True)
        shutil.chown(self.data_dir, "postfix")

    # -- commands ----------------------------------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
            env={**os.environ, "MAIL_CONFIG": str(self.config_dir)},
        )
        if check and proc.returncode != 0:
            raise PostfixError(
                f"{' '.join(args)} failed (exit {proc.returncode})\n{proc.stdout}{proc.stderr}\n{self.log_tail()}"
            )
        return proc

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``postfix -c CONFIG_DIR ARGS``."""
        return self._run(self.binary, "-c", str(self.config_dir), *args, check=check)

    def check(self) -> list[str]:
        """``postfix check`` plus ``postconf -n`` (which names misspelt parameters); returns their warnings."""
        warnings = [line for line in self.postfix("check").stderr.splitlines() if line.strip()]
        postconf = self._run(str(self.command_dir / "postconf"), "-c", str(self.config_dir), "-n")
        warnings += [line for line in postconf.stderr.splitlines() if line.strip()]
        return warnings

    def start(self) -> PostfixInstance:
        self.write_config()
        self.check_warnings = self.check()
        _RUNNING[id(self)] = self
        # postfix-script starts `master -w`, which returns once the master has opened every listener.
        self.postfix("start")
        pid_file = self.queue_dir / "pid" / "master.pid"
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                self.master_pid = int(pid_file.read_text().split()[0])
                if process_running(self.master_pid):
                    return self
            time.sleep(0.05)
        self.stop()
        raise PostfixError(f"the Postfix master did not start\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the master and its children; idempotent, and safe when start() failed half-way."""
        _RUNNING.pop(id(self), None)
        pid, self.master_pid = self.master_pid, None
        if self.config_dir.joinpath("main.cf").exists():
            self.postfix("stop", check=False)
        if pid is None:
            return
        children = _children(pid)
        deadline = time.monotonic() + STOP_TIMEOUT
        while process_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_running(pid):
            # `postfix abort` is immediate shutdown; SIGKILL is the last resort for a wedged master.
            self.postfix("abort", check=False)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for child in children:
            if process_running(child):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostfixInstance:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    # -- mail and queue -----------------------------------------------------------------------------------------

    def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Submit ``message`` on the public port; returns Postfix's queue ID from the final 250 reply."""
        with smtplib.SMTP(*self.public_address, local_hostname="client.mailseal.test", timeout=30) as smtp:
            smtp.ehlo()
            code, reply = smtp.mail(sender)
            if code != 250:
                raise PostfixError(f"MAIL FROM refused: {code} {reply!r}")
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise PostfixError(f"RCPT TO:<{rcpt}> refused: {code} {reply!r}")
            code, reply = smtp.data(message)
            if code != 250:
                raise PostfixError(f"DATA refused: {code} {reply!r}")
        found = re.search(rb"queued as (\w+)", reply)
        return found.group(1).decode() if found else ""

    def queue(self) -> list[dict[str, Any]]:
        """Every queued message, as ``postqueue -j`` reports it (queue_name, queue_id, recipients[delay_reason])."""
        out = self._run(str(self.command_dir / "postqueue"), "-c", str(self.config_dir), "-j").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def flush(self) -> None:
        """``postqueue -f``: retry deferred mail now rather than when its backoff time is over."""
        self._run(str(self.command_dir / "postqueue"), "-c", str(self.config_dir), "-f")

    def wait_for_queue(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0, what: str = "queue state"
    ) -> list[dict[str, Any]]:
        """Poll ``queue()`` until ``predicate(queue)`` holds; returns that queue or raises PostfixError."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.queue()
            if predicate(entries):
                return entries
            if time.monotonic() > deadline:
                raise PostfixError(f"timed out after {timeout} s waiting for {what}; queue: {entries}\n{self.log_tail()}")
            time.sleep(0.1)

    def wait_queue_empty(self, timeout: float = 15.0) -> None:
        self.wait_for_queue(lambda entries: not entries, timeout, "an empty queue")

    def maillog(self) -> str:
        try:
            return self.maillog_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "--- maillog (tail) ---\n" + "\n".join(self.maillog().splitlines()[-lines:])

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Poll the maillog until regular expression ``pattern`` matches a line; returns the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.maillog().splitlines():
                found = regex.search(line)
                if found:
                    return found
            if time.monotonic() > deadline:
                raise PostfixError(f"timed out after {timeout} s waiting for log /{pattern}/\n{self.log_tail()}")
            time.sleep(0.1)


@contextlib.contextmanager
def running_postfix(
    *, filter_address: tuple[str, int], sink_address: tuple[str, int], **options: Any
) -> Iterator[PostfixInstance]:
    """Start a private Postfix for a test (skipping when it cannot run) and always stop and remove it afterwards."""
    binary = require_postfix()
    instance = PostfixInstance(filter_address=filter_address, sink_address=sink_address, binary=binary, **options)
    try:
        yield instance.start()
    finally:
        instance.cleanup()

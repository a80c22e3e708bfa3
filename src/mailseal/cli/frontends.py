"""Several SMTP front-end processes on one port (``gateway.processes``): SO_REUSEPORT and a supervising parent.

Each front-end is a forked child that runs the whole gateway on its own event loop, with its own listening socket
bound to the same address with SO_REUSEPORT: the Linux kernel spreads new connections over the listening sockets
(by a hash of the connection's addresses), so the front-ends share the SMTP work without a shared accept queue.
The parent holds one more socket bound to the address (never listening, so it gets no connections): the port stays
this node's while a front-end is replaced, and port 0 is chosen once for all of them. The parent forwards SIGTERM,
SIGINT and SIGHUP to every front-end, replaces one that dies (logged; a pause that doubles up to
``MAX_RESTART_PAUSE`` when it dies young), and is the one process that talks to systemd (READY=1 once every
front-end listens). Front-end 0 also runs what a node runs once (docs/deploy.md, "Front-end processes").
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConfigurationError
from ..gateway import notify

log = logging.getLogger("mailseal.gateway")

#: The longest pause before a front-end that keeps dying young is started again.
MAX_RESTART_PAUSE = 30.0
#: A front-end that ran at least this long before dying is started again at once.
YOUNG_SECONDS = 10.0
#: Seconds before a front-end that exited with status 0 is started again (a stop of the service may be under way).
STOPPED_GRACE = 2.0
#: Blocked while forking (see Supervisor.spawn).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
#: Linux prctl(2): the signal a child gets when its parent dies (a SIGKILLed parent must not leave orphans).
PR_SET_PDEATHSIG = 1

#: ``start(index, ready)`` runs in the child: serve until stopped, calling ``ready()`` once it listens; its return
#: value (or SystemExit code) is the child's exit status.
Start = Callable[[int, Callable[[], None]], int | None]


def check_supported() -> None:
    """Refuse several front-ends where SO_REUSEPORT does not spread connections over the sockets (not Linux)."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigurationError(
            f"gateway.processes above 1 needs SO_REUSEPORT with load balancing (Linux); this is {sys.platform}: "
            "set gateway.processes = 1 and use gateway.worker_processes for the other cores")


def reserve(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with SO_REUSEPORT and not listening: the front-ends bind beside it. An
    ``OSError`` when the port is taken (by anything but a socket of ours with SO_REUSEPORT)."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.set_inheritable(False)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Child:
    index: int
    ready_fd: int | None  # the read end of the pipe it says "R" on once it listens; None once read
    started: float = field(default_factory=time.monotonic)
    ready: bool = False


class Supervisor:
    """Starts ``count`` front-ends with ``start`` and keeps them running until SIGTERM or SIGINT."""

    def __init__(self, count: int, start: Start, describe: str, name: str = "mailseal gateway",
                 reaped: Callable[[int, int], None] = lambda index, pid: None) -> None:
        self.count = count
        self.reaped = reaped  # called with (index, pid) of each front-end that ended, before another is started
        self.name = name
        self.start = start
        self.describe = describe  # "listening on HOST:PORT, relaying to ..." for systemd's status line
        self.children: dict[int, _Child] = {}
        self.stopping = False
        self.failed_start: int | None = None  # a front-end's exit status when the first start failed
        self._pending: list[int] = []  # signals received, handled by the loop
        self._pauses: dict[int, float] = {}
        self._restart_at: dict[int, float] = {}
        self._all_ready = False

    # -- children -----------------------------------------------------------------------------------------
    def spawn(self, index: int) -> int:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        # Blocked across the fork: a stop signal that arrives meanwhile must not run the parent's handler in the
        # child (it would be lost there); the child sets its own handlers, then takes it.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the front-end: never returns into the parent's code
                os.close(read_fd)
                os._exit(self._child(index, write_fd, parent))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        os.close(write_fd)
        self.children[pid] = _Child(index, read_fd)
        return pid

    def _child(self, index: int, ready_fd: int, parent: int) -> int:
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            # Until the gateway handles it (a reload), a SIGHUP must not end a front-end that is starting.
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            _die_with_parent(parent)
            os.environ.pop(notify.NOTIFY_ENV, None)  # only the parent talks to systemd

            def ready() -> None:
                with contextlib.suppress(OSError):
                    os.write(ready_fd, b"R")
                    os.close(ready_fd)

            result = self.start(index, ready)
            code = 0 if result is None else int(result)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # deliberately broad: a child must exit with a status, never run the parent's code
            traceback.print_exc()
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
                logging.shutdown()
        return code

    def signal_all(self, sig: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # -- the parent's loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until every front-end has stopped; the exit status (0, or a failed first start's)."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda s, _f: self._pending.append(s))
        for index in range(self.count):
            self.spawn(index)
        while self.children or (not self.stopping and self._restart_at):
            self._read_ready(0.2)
            self._handle_signals()
            self._reap()
            self._handle_signals()  # one that came while reaping: before anything is started again
            self._restart_due()
        return self.failed_start or 0

    def _handle_signals(self) -> None:
        while self._pending:
            sig = self._pending.pop(0)
            if sig == signal.SIGHUP and not self.stopping:
                notify.reloading()
                log.info("reload: SIGHUP sent to %d front-end processes", len(self.children))
                self.signal_all(signal.SIGHUP)
                notify.ready(f"{self.describe}; reload sent to the front-end processes")
            elif sig in (signal.SIGTERM, signal.SIGINT):
                self._stop(sig)

    def _stop(self, sig: int = signal.SIGTERM) -> None:
        if not self.stopping:
            self.stopping = True
            notify.stopping()
            self._restart_at.clear()
        self.signal_all(sig)

    def _read_ready(self, timeout: float) -> None:
        waiting = {c.ready_fd: c for c in self.children.values() if c.ready_fd is not None}
        if not waiting:
            time.sleep(timeout)
            return
        try:
            readable, _, _ = select.select(list(waiting), [], [], timeout)
        except InterruptedError:
            return
        for fd in readable:
            child = waiting[fd]
            said = b""
            with contextlib.suppress(OSError):
                said = os.read(fd, 1)
            os.close(fd)
            child.ready_fd = None
            if said != b"R":  # the end of the pipe: it died before listening (reaped next)
                continue
            child.ready = True
            pid = next(p for p, c in self.children.items() if c is child)
            log.info("front-end %d (pid %d) listening", child.index, pid)
        if not self._all_ready and len(self.children) == self.count and all(c.ready for c in
                                                                            self.children.values()):
            self._all_ready = True
            print(f"{self.name}: {self.count} front-end processes {self.describe}", file=sys.stderr,
                  flush=True)
            notify.ready(f"{self.count} front-end processes {self.describe}")

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            self.reaped(child.index, pid)
            if child.ready_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(child.ready_fd)
            code = os.waitstatus_to_exitcode(wait_status)
            if self.stopping:
                continue
            how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            if not self._all_ready:
                # The first start failed (settings, keys, the store, the port): every front-end would fail
                # alike, so the whole service stops with that front-end's status rather than retrying forever.
                log.error("front-end %d (pid %d) %s while starting: stopping", child.index, pid, how)
                self.failed_start = code if code > 0 else 1
                self._stop()
                continue
            lived = time.monotonic() - child.started
            pause = 0.0 if lived >= YOUNG_SECONDS else min(max(2 * self._pauses.get(child.index, 0.5), 1.0),
                                                          MAX_RESTART_PAUSE)
            if code == 0:
                # A front-end stops by itself only when told to: under systemd the stop signal reaches every
                # process of the service at once, and may end a front-end before this process has handled its
                # own. A short wait lets that signal arrive (and cancel the restart).
                pause = max(pause, STOPPED_GRACE)
            self._pauses[child.index] = pause
            log.error("front-end %d (pid %d) %s: starting a new one%s", child.index, pid, how,
                      f" in {pause:.0f} s" if pause else "")
            self._restart_at[child.index] = time.monotonic() + pause

    def _restart_due(self) -> None:
        now = time.monotonic()
        for index, at in list(self._restart_at.items()):
            if at <= now and not self.stopping:
                del self._restart_at[index]
                pid = self.spawn(index)
                log.warning("front-end %d started again (pid %d)", index, pid)


def _die_with_parent(parent: int) -> None:
    """SIGTERM to this front-end when the supervisor dies (even SIGKILLed): it drains and exits, no orphans."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


__all__ = ["MAX_RESTART_PAUSE", "Start", "Supervisor", "check_supported", "reserve"]

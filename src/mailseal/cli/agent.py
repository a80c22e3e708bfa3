"""`mailseal agent`: the optional resident helper (as gpg-agent is for gpgsm) that makes one-shot commands fast.

A process that has already imported mailseal forks one child per command, so a command costs a fork instead of
an interpreter start and ~0.2 s of imports; and it keeps the key store's key-encryption key for a while (as
gpg-agent caches a passphrase), so that ``sign --from`` does not pay the scrypt derivation every time. It is
started on demand by a ``mailseal`` command when ``$MAILSEAL_AGENT=on``, answers only its own user, and stops by
itself when idle. The client side is ``mailseal.agentclient``.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from .. import agentclient
from ..errors import UsageError
from .common import handle_errors
from .launcher import VIA_AGENT

if TYPE_CHECKING:
    from ..store.database import Store

DEFAULT_IDLE_EXIT = 1800
DEFAULT_CACHE_TTL = 600
_TTY_FD = 9  # where a forked command finds the caller's terminal (cli/terminal.py reads $MAILSEAL_TTY_FD)


class AgentServer:
    """The accept loop: one forked child per ``run``; ``kek``, ``status`` and ``stop`` answered in place."""

    def __init__(self, path: str, idle_exit: float, cache_ttl: float) -> None:
        self.path, self.idle_exit, self.cache_ttl = path, idle_exit, cache_ttl
        self.started = time.time()
        self.last_request = time.monotonic()
        self.commands_run = 0
        self.stopping = False
        self._keks: dict[str, tuple[bytes, float]] = {}
        # pid -> (caller connection, pidfd, the read end of the pipe on which the child names the stores it opened)
        self._children: dict[int, tuple[socket.socket, int, int]] = {}
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._modules: dict[str, int] = {}

    # -- start-up --------------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Import what the commands need, once, so that every forked child has it; remember the modules' files
        so that an agent started before an upgrade steps aside instead of running old code."""
        from .main import COMMANDS

        for name in sorted(VIA_AGENT):
            importlib.import_module(f"{__package__}.{COMMANDS[name][0]}")
        for name in ("ctypes", "mailseal._allocator", "mailseal.api", "mailseal.mime.opening",
                     "mailseal.mime.judgement", "mailseal.pki.validation", "mailseal.pki.recipients",
                     "pyhanko_certvalidator", "asn1crypto.pkcs12", "mailseal.store.keystore",
                     "mailseal.store.directory", "mailseal.store.database", "sqlite3"):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        # SQLAlchemy loads a database's dialect when the first engine is made: make one (in memory, nothing
        # opened on disk, disposed at once), so that a store command's child does not import it every time.
        from sqlalchemy import create_engine

        create_engine("sqlite://").dispose()
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if path and getattr(module, "__name__", "").startswith("mailseal"):
                with contextlib.suppress(OSError):
                    self._modules[path] = os.stat(path).st_mtime_ns
        _freeze()

    def stale(self, executable: str) -> bool:
        if executable != sys.executable:
            return True
        for path, mtime in self._modules.items():
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False

    def bind(self) -> bool:
        """Listen on the socket; False when another agent holds it."""
        if not agentclient.private_folder(self.path, create=True):
            raise UsageError(f"{os.path.dirname(self.path)} must belong to you and be closed to others (mode 0700)")
        self._lock = open(os.path.splitext(self.path)[0] + ".lock", "a")  # noqa: SIM115 - held for the agent's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a socket left by an agent that was killed: the lock says nobody has it now
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._sel.register(listener, selectors.EVENT_READ, ("accept", None))
        return True

    # -- the loop --------------------------------------------------------------------------------------------

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        signal.signal(signal.SIGINT, lambda *_: self._stop())
        self.last_request = time.monotonic()  # idle from now on, not from before the warm-up
        try:
            while not (self.stopping and not self._children):
                idle = self.idle_exit - (time.monotonic() - self.last_request)
                if idle <= 0 and not self._children:
                    break
                for key, _ in self._sel.select(timeout=max(0.05, min(idle, 5.0))):
                    kind, value = key.data
                    if kind == "accept":
                        self._accept()
                    elif kind == "child":
                        self._reap(value)
                    elif kind == "caller":
                        self._caller_gone(value)
        finally:
            self._close()

    def _stop(self) -> None:
        self.stopping = True
        if self._listener is not None:
            self._sel.unregister(self._listener)
            self._listener.close()
            self._listener = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def _close(self) -> None:
        self._stop()
        self._sel.close()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        conn.settimeout(5)
        fds: list[int] = []
        try:
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                   struct.calcsize("3i")))
            if uid != os.getuid():
                raise ConnectionError("another user")
            req = agentclient.recv_frame(conn, fds)
            self.last_request = time.monotonic()
            if req.get("op") == "run":
                self._run(conn, req, fds)
                return
            agentclient.send_frame(conn, self._answer(req))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a caller that sent garbage or went away: nothing to answer
        for fd in fds:
            os.close(fd)
        conn.close()

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "kek":
            return {"kek": self._kek(req["passphrase"], req["params"])}
        if op == "status":
            now = time.monotonic()
            live = sum(1 for _k, until in self._keks.values() if until > now)
            database = sys.modules.get("mailseal.store.database")
            stores = len(database.kept_store_urls()) if database is not None else 0
            return {"pid": os.getpid(), "socket": self.path, "uptime": round(time.time() - self.started, 1),
                    "commands_run": self.commands_run, "cached_keys": live, "stores_kept": stores,
                    "cache_ttl": self.cache_ttl, "idle_exit": self.idle_exit}
        if op == "stop":
            self._stop()
            return {"stopped": os.getpid()}
        return {"error": f"unknown request {op!r}"}

    def _kek(self, passphrase_b64: str, params: dict[str, Any]) -> str:
        import base64

        from ..store.keystore import derive_kek

        now = time.monotonic()
        self._keks = {k: v for k, v in self._keks.items() if v[1] > now}
        tag = agentclient.kek_tag(passphrase_b64, params)
        if tag not in self._keks:
            self._keks[tag] = (derive_kek(base64.b64decode(passphrase_b64), params), now + self.cache_ttl)
        return base64.b64encode(self._keks[tag][0]).decode()

    # -- one command -----------------------------------------------------------------------------------------

    def _run(self, conn: socket.socket, req: dict[str, Any], fds: list[int]) -> None:
        if self.stale(str(req.get("executable"))):
            agentclient.send_frame(conn, {"error": "stale: mailseal changed since this agent started"})
            self._stop()
            raise ConnectionError("stale")
        if len(fds) < 3:
            raise ConnectionError("no standard streams")
        self.commands_run += 1
        sys.stdout.flush()
        sys.stderr.flush()
        agentclient.inherited_keks = self._keks  # a forked command finds the keys already derived
        stores_r, pipe_w = os.pipe()
        # Above the descriptors the child puts the caller's streams and terminal on (0-2 and _TTY_FD).
        stores_w = fcntl.fcntl(pipe_w, fcntl.F_DUPFD_CLOEXEC, _TTY_FD + 1)
        os.close(pipe_w)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 70
            try:
                code = _child(req, fds, [conn.fileno(), self._lock.fileno(), self._sel_fd(), stores_r,
                                         *(k.fd for k in self._sel.get_map().values())])
                _report_stores(stores_w)
            finally:
                os._exit(code)
        os.close(stores_w)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self._children[pid] = (conn, pidfd, stores_r)
        self._sel.register(pidfd, selectors.EVENT_READ, ("child", pid))
        self._sel.register(conn, selectors.EVENT_READ, ("caller", pid))

    def _sel_fd(self) -> int:
        fileno = getattr(self._sel, "fileno", None)
        return int(fileno()) if fileno is not None else -1

    def _reap(self, pid: int) -> None:
        conn, pidfd, stores_r = self._children.pop(pid)
        self._sel.unregister(pidfd)
        self._sel.unregister(conn)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            agentclient.send_frame(conn, {"exit": code if code >= 0 else 128 - code})
        conn.close()
        self._keep_stores(stores_r)

    def _keep_stores(self, stores_r: int) -> None:
        """After the caller has its answer: make and warm an engine for each store the command opened, so that the
        next command on it starts with SQLAlchemy's work done (store.database.keep_engine)."""
        try:
            os.set_blocking(stores_r, False)
            urls = os.read(stores_r, 1 << 16).decode().split("\n")
        except (OSError, UnicodeDecodeError):
            urls = []  # the child died before writing (a signal): nothing to learn
        finally:
            os.close(stores_r)
        if any(urls):
            from ..store.database import keep_engine, kept_store_urls

            kept = len(kept_store_urls())
            for url in filter(None, urls):
                keep_engine(url, _warm_store)
            if len(kept_store_urls()) != kept:
                _freeze()

    def _caller_gone(self, pid: int) -> None:
        conn, _, _ = self._children[pid]
        with contextlib.suppress(OSError):
            if conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # the caller went away (Ctrl-C): its command stops too


def _freeze() -> None:
    """Move what the agent holds now out of the garbage collector's sight (Python's advice for fork without exec):
    a collection in a forked child then never writes to these objects, whose pages stay shared with the agent
    instead of being copied, each command, on first touch."""
    gc.collect()
    gc.freeze()


def _warm_store(store: Store) -> None:
    """The lookups of the store commands a user repeats (``sign --from``, ``encrypt --to ADDR``, ``certs find``),
    run once in the agent against nobody's address, so that their statements are compiled before the fork."""
    from ..store.directory import Directory
    from ..store.keystore import KeyStore, kdf_params

    nobody = "warm-up@agent.invalid"
    with contextlib.suppress(UsageError):
        KeyStore(store).identity_for(nobody)
    with store.lookup() as conn:
        kdf_params(conn)
    directory = Directory(store)
    directory.find(nobody)
    directory.capabilities_for(nobody)


def _report_stores(stores_w: int) -> None:
    """In the child, after the command: name the store databases it opened to the agent (one URL a line)."""
    database = sys.modules.get("mailseal.store.database")  # not imported: no store opened
    urls = database.opened_store_urls()[-8:] if database is not None else []
    with contextlib.suppress(OSError):
        # Far below the pipe's capacity: the write never waits for the agent, which reads after the exit.
        os.write(stores_w, "\n".join(urls).encode())
    os.close(stores_w)


def _child(req: dict[str, Any], fds: list[int], inherited: list[int]) -> int:
    """In the forked child: become the caller's command (its cwd, environment and streams) and run it."""
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in req["env"].items()})
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    if req.get("tty") and len(fds) > 3:
        os.dup2(fds[3], _TTY_FD)
        os.environ["MAILSEAL_TTY_FD"] = str(_TTY_FD)
    for fd in fds:
        if fd > 2 and fd != _TTY_FD:
            os.close(fd)
    encoding = os.environ.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding=encoding)  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), encoding=encoding,  # noqa: SIM115
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), encoding=encoding,  # noqa: SIM115
                                  errors="backslashreplace", line_buffering=True)
    sys.argv = ["mailseal", *req["argv"]]
    # Usage lines name the program as the caller typed it, not after the agent's own `python -m` start.
    main_module = sys.modules.get("__main__")
    if main_module is not None:
        main_module.__spec__ = main_module.__package__ = None  # what click reads to name the program
    from .main import main

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:  # the same as an interpreter would do with an uncaught exception
        import traceback

        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


# -- the commands ------------------------------------------------------------------------------------------


@click.group("agent")
def agent_group() -> None:
    """The resident helper for fast one-shot commands (used when $MAILSEAL_AGENT=on; see docs/cli.md)."""


@agent_group.command("start")
@click.option("--foreground", is_flag=True, help="Run in this process (what an on-demand start does).")
@click.option("--idle-exit", type=click.FloatRange(min=1), default=DEFAULT_IDLE_EXIT, show_default=True,
              metavar="SECONDS", help="Stop after this long without a request.")
@click.option("--cache-ttl", type=click.FloatRange(min=0), default=DEFAULT_CACHE_TTL, show_default=True,
              metavar="SECONDS", help="Keep a key store's unlocked key this long (0: never keep it).")
@handle_errors
def start_cmd(foreground: bool, idle_exit: float, cache_ttl: float) -> None:
    """Start the agent (a running one is left as it is)."""
    path = agentclient.socket_path()
    if foreground:
        server = AgentServer(path, idle_exit, cache_ttl)
        if server.bind():
            server.warm_up()
            server.serve()
        return
    with contextlib.suppress(agentclient.AgentUnavailable):
        click.echo(f"agent already running (pid {agentclient.request({'op': 'status'})['pid']}) on {path}")
        return
    agentclient.spawn("--idle-exit", str(idle_exit), "--cache-ttl", str(cache_ttl))
    deadline = time.monotonic() + 30
    while True:
        try:
            status = agentclient.request({"op": "status"})
            break
        except agentclient.AgentUnavailable:
            if time.monotonic() > deadline:
                raise UsageError(f"the agent did not start on {path}") from None
            time.sleep(0.05)
    click.echo(f"agent running (pid {status['pid']}) on {path}")


@agent_group.command("stop")
@handle_errors
def stop_cmd() -> None:
    """Stop the agent; the keys it kept unlocked are forgotten."""
    try:
        answer = agentclient.request({"op": "stop"})
    except agentclient.AgentUnavailable:
        click.echo("agent not running")
        return
    click.echo(f"agent stopped (pid {answer['stopped']})")


@agent_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def status_cmd(as_json: bool) -> None:
    """Whether the agent runs, with its socket, commands run and keys kept. Exit code 1 when not running."""
    try:
        status = agentclient.request({"op": "status"})
    except agentclient.AgentUnavailable:
        click.echo(json.dumps({"running": False}) if as_json else "agent not running")
        raise SystemExit(1) from None
    if as_json:
        click.echo(json.dumps({"running": True, **status}, indent=2))
        return
    click.echo(f"agent running (pid {status['pid']}) on {status['socket']}")
    for key in ("uptime", "commands_run", "cached_keys", "stores_kept", "cache_ttl", "idle_exit"):
        click.echo(f"  {key}: {status[key]}")


__all__ = ["AgentServer", "agent_group"]

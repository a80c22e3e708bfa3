"""The client side of mailseal's resident helper (``mailseal agent``): its socket, its wire format and the calls.

Standard library only: the ``mailseal`` command imports this before anything else, so that a command the agent
runs costs the interpreter's start-up and one round trip (as gpgsm with gpg-agent). The agent is optional: it is
used only when ``$MAILSEAL_AGENT`` is ``on`` (started on demand) and every caller falls back to doing the work
itself when it cannot be reached.

Wire format: frames of a 4-byte big-endian length and a JSON object. A ``run`` request carries the caller's
standard input, output and error (and its terminal, when it has one) as file descriptors (``SCM_RIGHTS``), so
that the command the agent forks reads and writes exactly where the caller would have. The agent answers only
its own user (``SO_PEERCRED``), on a socket in a folder only that user can enter.
"""

from __future__ import annotations

import _socket as socket  # the C module: ``socket`` would import enum and more for nothing
import array
import os
import struct
import sys
import time
from _json import encode_basestring_ascii

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

AGENT_ENV = "MAILSEAL_AGENT"
SOCKET_ENV = "MAILSEAL_AGENT_SOCKET"
#: How long a caller waits for an agent it started on demand before it does the work itself.
START_WAIT_SECONDS = 5.0
_MAX_FRAME = 1 << 20


class AgentUnavailable(Exception):
    """No agent answered (none running, or it refused): the caller does the work itself."""


def enabled() -> bool:
    """True when the user asked for the agent (``$MAILSEAL_AGENT=on``)."""
    return os.environ.get(AGENT_ENV, "").strip().lower() in ("1", "on", "yes", "true")


def socket_path() -> str:
    """``$MAILSEAL_AGENT_SOCKET``, else ``$XDG_RUNTIME_DIR/mailseal/agent.sock``, else
    ``/tmp/mailseal-UID/agent.sock`` (the folder is made 0700 by the agent and checked by both sides)."""
    explicit = os.environ.get(SOCKET_ENV)
    if explicit:
        return os.path.abspath(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return os.path.join(runtime, "mailseal", "agent.sock")
    return f"/tmp/mailseal-{os.getuid()}/agent.sock"


def private_folder(path: str, create: bool = False) -> bool:
    """True when `path`'s folder is ours and closed to everybody else (made so when `create`)."""
    folder = os.path.dirname(path)
    if create:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0 and os.path.isdir(folder) \
        and not os.path.islink(folder)


def _encode(value: Any) -> str:
    """JSON for the plain values a request holds (the ``json`` package would cost the ``re`` import)."""
    if isinstance(value, str):
        return str(encode_basestring_ascii(value))
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot encode {type(value).__name__}")


def send_frame(sock: socket.socket, payload: dict[str, Any], fds: list[int] | None = None) -> None:
    data = _encode(payload).encode()
    frame = struct.pack(">I", len(data)) + data
    if fds:
        sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.sendall(frame)


def _read_exactly(sock: socket.socket, n: int, fds: list[int] | None) -> bytes:
    out = b""
    while len(out) < n:
        if fds is not None and not out:
            data, ancdata, _flags, _addr = sock.recvmsg(n, socket.CMSG_SPACE(16 * 4))
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(cdata[: len(cdata) - (len(cdata) % got.itemsize)])
                    fds.extend(got)
        else:
            data = sock.recv(n - len(out))
        if not data:
            raise ConnectionError("the other side closed the connection")
        out += data
    return out


def recv_frame(sock: socket.socket, fds: list[int] | None = None) -> dict[str, Any]:
    """One frame; descriptors that came with it are appended to `fds` (when given)."""
    header = _read_exactly(sock, 4, fds)
    (size,) = struct.unpack(">I", header)
    if size > _MAX_FRAME:
        raise ConnectionError("frame too large")
    data = _read_exactly(sock, size, None) if size else b"{}"
    if data.startswith(b'{"exit":') and data[8:-1].isdigit():  # the answer to every command: no json import
        return {"exit": int(data[8:-1])}
    import json

    value = json.loads(data)
    if not isinstance(value, dict):
        raise ConnectionError("not a JSON object")
    return value


def connect(path: str | None = None, *, start: bool = False) -> socket.socket:
    """A connection to the agent; with `start`, one is started first when none answers."""
    path = path or socket_path()
    try:
        return _connect(path)
    except AgentUnavailable:
        if not start:
            raise
    spawn()
    deadline = time.monotonic() + START_WAIT_SECONDS
    while True:
        try:
            return _connect(path)
        except AgentUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _connect(path: str) -> socket.socket:
    if not private_folder(path):
        raise AgentUnavailable(f"{os.path.dirname(path)} is missing or open to others")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise AgentUnavailable(str(exc)) from None
    return sock


def spawn(*options: str) -> None:
    """Start an agent in the background, detached from this process and its terminal."""
    import subprocess

    subprocess.Popen(
        [sys.executable, "-m", "mailseal.cli.main", "agent", "start", "--foreground", *options],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        close_fds=True,
    )


def request(payload: dict[str, Any], *, start: bool = False) -> dict[str, Any]:
    """One request and its answer (no descriptors). Raises AgentUnavailable."""
    sock = connect(start=start)
    try:
        send_frame(sock, payload)
        return recv_frame(sock)
    except (OSError, ValueError) as exc:
        raise AgentUnavailable(str(exc)) from None
    finally:
        sock.close()


def run_command(argv: list[str]) -> int:
    """Run ``mailseal ARGV`` in the agent with this process's standard streams, cwd and environment; its exit
    code. Raises AgentUnavailable when the agent cannot take it (the caller then runs it itself)."""
    sock = connect(start=True)
    fds = [0, 1, 2]
    tty = _open_tty()
    if tty is not None:
        fds.append(tty)
    try:
        send_frame(sock, {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                          "executable": sys.executable, "tty": tty is not None}, fds)
        try:
            answer = recv_frame(sock)
        except KeyboardInterrupt:
            sock.close()  # the agent stops the command when its caller goes away
            return 130
    except (OSError, ValueError) as exc:
        raise AgentUnavailable(str(exc)) from None
    finally:
        sock.close()
        if tty is not None:
            os.close(tty)
    if "exit" not in answer:
        raise AgentUnavailable(str(answer.get("error", "no exit code")))
    return int(answer["exit"])


def _open_tty() -> int | None:
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None


#: In a command the agent forked: the keys the agent held at the fork (tag -> (key, time.monotonic() expiry)),
#: so that the command needs no round trip for a key the agent already derived.
inherited_keks: dict[str, tuple[bytes, float]] = {}


def kek_tag(passphrase_b64: str, params: dict[str, Any]) -> str:
    """What a kept key is filed under: the passphrase and the store's KDF parameters (salt and cost)."""
    import hashlib
    import json

    kdf = {k: params[k] for k in ("algorithm", "salt", "n", "r", "p") if k in params}
    return hashlib.sha256(json.dumps([passphrase_b64, kdf], sort_keys=True).encode()).hexdigest()


def cached_kek(passphrase: bytes, params: dict[str, Any]) -> bytes | None:
    """The key store's key-encryption key for `passphrase` and the store's KDF `params`, derived (and kept for
    a while) by the agent when the user enabled it; None when there is no agent to ask."""
    if not enabled():
        return None
    import base64

    passphrase_b64 = base64.b64encode(passphrase).decode()
    kept = inherited_keks.get(kek_tag(passphrase_b64, params))
    if kept is not None and kept[1] > time.monotonic():
        return kept[0]
    try:
        answer = request({"op": "kek", "passphrase": passphrase_b64, "params": params}, start=True)
    except AgentUnavailable:
        return None
    kek = answer.get("kek")
    return base64.b64decode(kek) if isinstance(kek, str) else None


__all__ = ["AGENT_ENV", "SOCKET_ENV", "AgentUnavailable", "cached_kek", "connect", "enabled", "inherited_keks",
           "kek_tag", "private_folder", "recv_frame", "request", "run_command", "send_frame", "socket_path", "spawn"]

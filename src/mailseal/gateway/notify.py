"""sd_notify(3) without libsystemd: tell systemd (``Type=notify``) that the gateway is ready, reloading or stopping.

The protocol is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket named by ``$NOTIFY_SOCKET``; a name
starting with ``@`` is in the abstract namespace. Without ``$NOTIFY_SOCKET`` (not under systemd) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket
import time

NOTIFY_ENV = "NOTIFY_SOCKET"

log = logging.getLogger("mailseal.gateway")


def _address(name: str) -> str | bytes:
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def notify(*fields: str) -> bool:
    """Send ``fields`` ("READY=1", "STATUS=...") to systemd; True when a datagram was sent. A failure is logged,
    never raised: the service works the same without its supervisor's bookkeeping."""
    name = os.environ.get(NOTIFY_ENV)
    if not name:
        return False
    message = "\n".join(field.replace("\n", " ") for field in fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(name))
            sock.sendall(message)
    except OSError as exc:
        log.warning("could not notify systemd through %s: %s", name, exc)
        return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}")


def reloading(status: str = "reloading the settings") -> bool:
    # MONOTONIC_USEC: systemd 253+ (Type=notify-reload) matches the reload request with it; older ones ignore it.
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
                  f"STATUS={status}")


def stopping(status: str = "stopping: finishing messages in progress") -> bool:
    return notify("STOPPING=1", f"STATUS={status}")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


__all__ = ["NOTIFY_ENV", "notify", "ready", "reloading", "status", "stopping"]

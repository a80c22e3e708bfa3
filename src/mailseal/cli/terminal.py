"""The user's terminal: pass phrases typed without echo, notices, and whether progress may be drawn.

Pass phrases are read from the controlling terminal (``/dev/tty``), as OpenSSL and gpgsm's pinentry do, never
from standard input: stdin usually carries the message (``mailseal decrypt --key alice.p12 < msg.eml``). A process
without a controlling terminal (a pipe under cron, a mail filter, CI) has nobody to ask, and says so.
"""

from __future__ import annotations

import os
import sys

import click

TTY = "/dev/tty"


#: Set by the resident agent for a command it runs: the caller's terminal, passed as a descriptor (a forked
#: child of the agent has no controlling terminal of its own).
TTY_FD_ENV = "MAILSEAL_TTY_FD"


def _open_tty() -> int | None:
    passed = os.environ.get(TTY_FD_ENV, "")
    try:
        if passed.isdigit():
            return os.dup(int(passed))
        return os.open(TTY, os.O_RDWR | os.O_NOCTTY)
    except OSError:  # ENXIO: no controlling terminal
        return None


def has_terminal() -> bool:
    """True when there is a controlling terminal to ask a pass phrase on."""
    fd = _open_tty()
    if fd is None:
        return False
    os.close(fd)
    return True


def read_secret(prompt: str) -> bytes | None:
    """One line typed on the terminal with echo off (the line end removed), or None without a terminal.

    Ctrl-C restores the echo and interrupts; Ctrl-D before Enter aborts (click turns both into one line).
    """
    fd = _open_tty()
    if fd is None:
        return None
    import termios

    with open(fd, "r+b", buffering=0) as tty:
        try:
            saved = termios.tcgetattr(fd)
        except termios.error:  # /dev/tty opened but is no terminal: nobody to ask either
            return None
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        tty.write(prompt.encode())
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        try:
            line = tty.readline()
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
            tty.write(b"\n")
    if not line.endswith(b"\n"):
        raise click.exceptions.Abort()
    return line.rstrip(b"\r\n")


def say(text: str) -> None:
    """A line on the terminal (where the prompt was), e.g. that the pass phrase was wrong; nothing without one."""
    fd = _open_tty()
    if fd is None:
        return
    with open(fd, "wb", buffering=0) as tty:
        tty.write(text.encode() + b"\n")


def quiet_requested() -> bool:
    """``mailseal --quiet ...``: no progress, no notices."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("quiet"))


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


__all__ = ["has_terminal", "quiet_requested", "read_secret", "say", "stderr_is_terminal"]

"""The test sink as a process of its own, for a sink on another host (tests/support/netns.py): every message it
accepts is written to a folder, one file each, named in arrival order.

    python -m tests.support.sink_process HOST PORT FOLDER

Each file holds the envelope on its first two lines (``MAIL FROM`` and the recipients, space-separated), then the
DATA bytes as received. A file appears whole (written aside, then renamed) once the message was answered 250.
:func:`read_folder` reads them back as :class:`ReceivedMessage`.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
from pathlib import Path

from tests.support.smtp_sink import ReceivedMessage, SmtpSink

__all__ = ["FolderSink", "read_folder"]


class FolderSink(SmtpSink):
    """An ``SmtpSink`` that also writes each message into ``folder``."""

    def __init__(self, host: str, port: int, folder: Path) -> None:
        super().__init__(host, port, hostname="sink.mailseal.test")
        self.folder = folder
        self._numbers = itertools.count(1)

    def _store(self, message: ReceivedMessage) -> None:
        number = next(self._numbers)
        part = self.folder / f".{number:06d}.part"
        part.write_bytes(f"{message.mail_from}\n{' '.join(message.rcpt_tos)}\n".encode() + message.data)
        os.replace(part, self.folder / f"{number:06d}.eml")
        super()._store(message)


def read_folder(folder: Path) -> list[ReceivedMessage]:
    """The messages a FolderSink wrote so far, in arrival order."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        mail_from, rcpts, data = path.read_bytes().split(b"\n", 2)
        found.append(ReceivedMessage(mail_from.decode(), rcpts.decode().split(), data))
    return found


def main(argv: list[str]) -> int:
    host, port, folder = argv[0], int(argv[1]), Path(argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FolderSink(host, port, folder):
        print(f"sink listening on {host}:{port}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

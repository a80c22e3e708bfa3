"""An SMTP sink for tests: an aiosmtpd server on 127.0.0.1 and a free port that keeps every message it accepts.

The server runs in aiosmtpd's own background thread, so synchronous tests can use it::

    with SmtpSink() as sink:
        ...  # point a relay at sink.address
        [message] = sink.wait_for(1, timeout=10)
        assert message.rcpt_tos == ["bob@example.org"]

Every message is answered ``250`` and stored with its envelope and its bytes exactly as received (CRLF line ends,
dot-unstuffed). The sink checks nothing: it stands for "the rest of the Internet".
"""

from __future__ import annotations

import email
import email.message
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

__all__ = ["ReceivedMessage", "SmtpSink", "free_port"]

#: The name the sink greets with (Postfix's Received headers and log name the hop by it).
SINK_HOSTNAME = "sink.mailseal.test"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the usual race is acceptable for tests)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: the SMTP envelope, the client's address and the DATA bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple[str, int] | None = None
    mail_options: list[str] = field(default_factory=list)

    def parsed(self) -> email.message.EmailMessage:
        """The message parsed with the modern e-mail policy (header access such as ``parsed()["Subject"]``)."""
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        return message

    def header(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in message order."""
        return [str(v) for v in self.parsed().get_all(name, [])]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content if envelope.original_content is not None else envelope.content
        self.sink._store(
            ReceivedMessage(
                mail_from=str(envelope.mail_from),
                rcpt_tos=[str(r) for r in envelope.rcpt_tos],
                data=bytes(content),
                peer=session.peer if isinstance(session.peer, tuple) else None,
                mail_options=[str(o) for o in envelope.mail_options],
            )
        )
        return "250 2.0.0 Ok: stored by the test sink"


class SmtpSink:
    """A context manager running the sink; ``messages`` is a snapshot, ``wait_for(n)`` blocks until n arrived."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, hostname: str = SINK_HOSTNAME) -> None:
        self.host = host
        self.port = free_port(host) if port is None else port
        self._messages: list[ReceivedMessage] = []
        self._changed = threading.Condition()
        self._controller = Controller(
            _Handler(self), hostname=host, port=self.port, server_hostname=hostname, data_size_limit=64 * 1024 * 1024
        )
        self._running = False

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def messages(self) -> list[ReceivedMessage]:
        """The messages received so far, oldest first (a copy: later arrivals do not change it)."""
        with self._changed:
            return list(self._messages)

    def _store(self, message: ReceivedMessage) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return them all. Raises TimeoutError with what did."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"SMTP sink on {self.host}:{self.port} received {len(self._messages)} of {count} message(s) "
                        f"within {timeout} s"
                    )
                self._changed.wait(remaining)
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def start(self) -> SmtpSink:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

"""A next hop that keeps the exact bytes of each DATA phase as they came over the wire (dot-stuffing and line ends
untouched), for tests of what the gateway itself sends. It speaks just enough SMTP: EHLO (with 8BITMIME), MAIL,
RCPT, DATA (ended only by CRLF.CRLF), RSET, NOOP, QUIT; every command is answered 250.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class RawSink:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)  # accept() wakes up to see the stop flag
        self.address = ("127.0.0.1", int(self._server.getsockname()[1]))
        self.transactions: list[bytes] = []  # raw DATA bytes up to (not including) the final CRLF.CRLF
        self.commands: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RawSink:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop = True
        self._thread.join(5)
        self._server.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""

        def read_until(marker: bytes) -> bytes | None:
            nonlocal buffer
            while marker not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                buffer += chunk
            head, _, buffer = buffer.partition(marker)
            return head

        conn.settimeout(30)
        with conn:
            conn.sendall(b"220 raw.sink.test ESMTP\r\n")
            while True:
                line = read_until(b"\r\n")
                if line is None:
                    return
                with self._lock:
                    self.commands.append(line)
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-raw.sink.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = read_until(b"\r\n.\r\n")
                    if data is None:
                        return
                    with self._lock:
                        self.transactions.append(data + b"\r\n")
                    conn.sendall(b"250 2.0.0 kept raw\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")

    def wait_for(self, count: int, timeout: float = 20) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.transactions) >= count:
                    return list(self.transactions)
            time.sleep(0.02)
        raise TimeoutError(f"{len(self.transactions)} of {count} transactions arrived")


def bare_line_ends(data: bytes) -> tuple[int, int]:
    """How many LF are not preceded by CR, and how many CR are not followed by LF."""
    bare_lf = sum(1 for i, b in enumerate(data) if b == 0x0A and (i == 0 or data[i - 1] != 0x0D))
    bare_cr = sum(1 for i, b in enumerate(data) if b == 0x0D and (i + 1 == len(data) or data[i + 1] != 0x0A))
    return bare_lf, bare_cr


__all__ = ["RawSink", "bare_line_ends"]

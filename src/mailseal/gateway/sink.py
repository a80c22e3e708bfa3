"""A local delivery sink: an SMTP server that writes every message it accepts as a ``.eml`` file into a
directory (``make run`` relays there so that a user can look at what the gateway produced)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from . import status


class _SinkHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        header = (f"X-Sink-Envelope-From: <{envelope.mail_from}>\r\n"
                  + "".join(f"X-Sink-Envelope-To: <{r}>\r\n" for r in envelope.rcpt_tos)).encode()
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(header + content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / f"{name}.eml")
        return status.stored_as(name)


async def start_sink(directory: Path, host: str = "127.0.0.1", port: int = 0) -> asyncio.AbstractServer:
    """Start the sink on the running loop; returns the server (its port in ``sockets[0]``)."""
    directory.mkdir(parents=True, exist_ok=True)
    handler = _SinkHandler(directory)
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return SMTP(handler, hostname="sink.localhost", ident="mailseal sink", enable_SMTPUTF8=True)

    return await loop.create_server(factory, host=host, port=port, reuse_address=True)


__all__ = ["start_sink"]

"""The SMTP side of the gateway: aiosmtpd's protocol with a spooling, strict DATA phase and relay control.

What aiosmtpd already does for us (>= 1.4.6): only CRLF.CRLF ends DATA, and bytes pipelined before STARTTLS are
discarded. What is added here: message data goes to a spool file, never a list in memory; bare CR or LF anywhere
in the data refuses the message (SMTP smuggling); recipients are plain ``local@domain`` only, and relaying to a
domain we do not accept needs a trusted client; XFORWARD (Postfix content filters) is honoured from trusted
clients only; a connection limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from .addresses import address_problem
from .settings import GatewaySettings, Network

log = logging.getLogger("mailseal.gateway")

XFORWARD_ATTRS = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
SPOOL_IN_MEMORY = 256 << 10


@dataclass
class Transaction:
    """One received message: envelope, the client it came from, and the spooled data."""

    peer: str
    origin: str  # the original client's address (XFORWARD ADDR from a trusted peer, else the peer)
    helo: str
    mail_from: str
    recipients: list[str]
    data: BinaryIO
    size: int
    tls: bool
    digest: str  # SHA-256 of the data: the key of the delivery journal
    xforward: dict[str, str] = field(default_factory=dict)


MessageHandler = Callable[[Transaction], Awaitable[str]]


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.removeprefix("IPV6:").removeprefix("ipv6:"))
    except ValueError:
        return None


def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in net for net in networks)


class Handler:
    """aiosmtpd hooks: relay control at RCPT time, XFORWARD advertised to trusted clients only."""

    def __init__(self, settings: GatewaySettings, is_accepted: Callable[[str], bool]) -> None:
        self.settings = settings
        self.is_accepted = is_accepted  # the recipient's domain is one of ours

    def trusted(self, session: Session) -> bool:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        return in_networks(peer, self.settings.trusted_networks)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.trusted(session):
            responses.insert(-1, "250-XFORWARD " + " ".join(XFORWARD_ATTRS))
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if address and (problem := address_problem(address)):
            return f"553 5.1.7 Sender address refused: {problem}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if problem := address_problem(address):
            return f"553 5.1.3 Recipient address refused: {problem}"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not self.trusted(session) and not self.is_accepted(address):
            return "554 5.7.1 Relay access denied"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"


class GatewaySMTP(SMTP):
    """One SMTP connection."""

    def __init__(self, handler: Handler, on_message: MessageHandler, gate: ConnectionGate, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._on_message = on_message
        self._gate = gate
        self._admitted = False
        self._xforward: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        if first and not self._gate.enter():
            # Over the connection limit: greet with 421 and close (RFC 5321 §3.8).
            transport.write(b"421 4.3.2 Too many connections, try again later\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self._admitted = self._admitted or first
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self._gate.leave()
        if self.session is not None and self._handler_coroutine is not None:
            super().connection_lost(error)

    async def smtp_RCPT(self, arg: str | None) -> None:
        # aiosmtpd's address parser drops an RFC 5321 source route; refuse it instead of relaying to its end.
        if arg and re.search(r"<\s*@", arg):
            if await self.check_helo_needed():
                return
            await self.push("553 5.1.3 Recipient address refused: source routes are not accepted")
            return
        await super().smtp_RCPT(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg and re.search(r"<\s*@", arg):
            if await self.check_helo_needed():
                return
            await self.push("553 5.1.7 Sender address refused: source routes are not accepted")
            return
        await super().smtp_MAIL(arg)

    async def smtp_RSET(self, arg: str) -> None:
        self._xforward = {}
        await super().smtp_RSET(arg)

    async def smtp_XFORWARD(self, arg: str | None) -> None:
        assert self.session is not None
        handler = self.event_handler
        assert isinstance(handler, Handler)
        if not handler.trusted(self.session):
            await self.push("550 5.7.0 XFORWARD not permitted")
            return
        if not arg:
            await self.push("501 5.5.4 Syntax: XFORWARD attribute=value ...")
            return
        for item in arg.split():
            name, sep, value = item.partition("=")
            if not sep or name.upper() not in XFORWARD_ATTRS:
                await self.push("501 5.5.4 Bad XFORWARD attribute")
                return
            self._xforward[name.upper()] = value
        await self.push("250 2.0.0 OK")

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None and self.session is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed below)
            max_size=SPOOL_IN_MEMORY, mode="w+b", dir=str(self._gate.spool_dir)))
        digest = hashlib.sha256()
        try:
            status = await self._receive(spool, digest)
            if status is None:
                transaction = self._transaction(spool, digest.hexdigest())
                status = await self._on_message(transaction)
        finally:
            spool.close()
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        self._xforward = {}
        await self.push(status)

    async def _receive(self, spool: BinaryIO, digest: Any) -> str | None:
        """Read DATA into the spool; None when the message may be processed, else the refusal to send."""
        limit = self.data_size_limit
        size = 0
        bare = too_long = too_big = False
        partial = False  # inside a line longer than the stream limit
        while self.transport is not None:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:
                too_long = True
                line = await self._reader.read(exc.consumed)
                size += len(line)
                bare = bare or b"\n" in line or b"\r" in line[:-1]
                partial = True
                continue
            if not partial and line == b".\r\n":
                break
            partial = False
            size += len(line)
            if b"\n" in line[:-2] or b"\r" in line[:-2]:
                bare = True
            if limit and size > limit:
                too_big = True
            if bare or too_big or too_long:
                continue  # keep reading to the end of DATA, keep nothing
            data = line[1:] if line.startswith(b".") else line
            spool.write(data)
            digest.update(data)
        if bare:
            return "550 5.5.2 Message refused: bare CR or LF in the data (only CRLF line ends are accepted)"
        if too_long:
            return "500 5.5.6 Line too long (RFC 5321 §4.5.3.1.6)"
        if too_big:
            return "552 5.3.4 Message too big for this system"
        return None

    def _transaction(self, spool: BinaryIO, digest: str) -> Transaction:
        assert self.envelope is not None and self.session is not None
        peer = self.session.peer[0] if isinstance(self.session.peer, tuple) else str(self.session.peer)
        # XFORWARD without a usable ADDR: the original client is unknown, which never counts as a signing origin
        origin = self._xforward.get("ADDR", "unknown") if self._xforward else peer
        spool.seek(0)
        return Transaction(
            peer=peer, origin=origin, helo=str(self.session.host_name or ""),
            mail_from=self.envelope.mail_from or "", recipients=list(self.envelope.rcpt_tos), data=spool,
            size=spool.seek(0, 2), tls=self.session.ssl is not None, digest=digest, xforward=dict(self._xforward),
        )


class ConnectionGate:
    """Counts open connections against the limit (and reports the count to ``observe``)."""

    def __init__(self, limit: int, spool_dir: Any, observe: Callable[[int], None] = lambda n: None) -> None:
        self.limit = limit
        self.active = 0
        self.spool_dir = spool_dir
        self._observe = observe

    def enter(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        self._observe(self.active)
        return True

    def leave(self) -> None:
        self.active = max(0, self.active - 1)
        self._observe(self.active)


__all__ = ["MISSING", "ConnectionGate", "GatewaySMTP", "Handler", "Transaction", "in_networks"]

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
from typing import Any, BinaryIO, Protocol, cast

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

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
    user: Account | None  # the authenticated submission account (SMTP AUTH), if any
    digest: str  # SHA-256 of the data: the key of the delivery journal
    xforward: dict[str, str] = field(default_factory=dict)


MessageHandler = Callable[[Transaction], Awaitable[str]]


class Account(Protocol):
    """An authenticated submission account (mailseal.store.users.UserRecord)."""

    @property
    def username(self) -> str: ...

    def may_use(self, address: str) -> bool: ...


Authenticate = Callable[[str, bytes], Awaitable["Account | None"]]
MAX_AUTH_FAILURES = 3


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
        responses = [r for r in responses if r.strip() != "250-AUTH"]  # AUTH with no mechanism: not offered
        if self.trusted(session):
            responses.insert(-1, "250-XFORWARD " + " ".join(XFORWARD_ATTRS))
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        # the null sender (bounces) is "<>" here; aiosmtpd needs a non-empty mail_from, Transaction has ""
        if address and address != "<>" and (problem := address_problem(address)):
            return f"553 5.1.7 Sender address refused: {problem}"
        account = session.auth_data if session.authenticated else None
        if account is not None and not account.may_use(address):
            return "553 5.7.1 Sender address refused: not an address of the authenticated user"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if problem := address_problem(address):
            return f"553 5.1.3 Recipient address refused: {problem}"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not (self.trusted(session) or session.authenticated) and not self.is_accepted(address):
            return "554 5.7.1 Relay access denied"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"


class GatewaySMTP(SMTP):
    """One SMTP connection."""

    def __init__(self, handler: Handler, on_message: MessageHandler, gate: ConnectionGate,
                 authenticate: Authenticate | None = None, **kwargs: Any) -> None:
        if authenticate is None:  # no submission accounts: AUTH is not offered at all
            kwargs["auth_exclude_mechanism"] = ["PLAIN", "LOGIN"]
        super().__init__(handler, **kwargs)
        self._check_login = authenticate
        self._auth_failures = 0
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

    _FAST_ADDRESS = re.compile(r"\s*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+)>(?:\s+(.*?))?\s*")

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The usual `<local@domain> PARAMS` by a regular expression; anything else by aiosmtpd's RFC 5322
        parser (which builds a class on every call: it was a tenth of the event loop's time)."""
        m = self._FAST_ADDRESS.fullmatch(arg)
        if m:
            return m.group(1), m.group(2) or ""
        return super()._getaddr(arg)

    # -- SMTP AUTH (RFC 4954): aiosmtpd decodes PLAIN and LOGIN; the password check (scrypt, ~0.1 s) runs in a
    # thread, not on the event loop. aiosmtpd calls _authenticate synchronously, so it only hands the
    # credentials over; auth_PLAIN / auth_LOGIN then check them.
    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False, auth_data=auth_data)

    async def _checked(self, result: AuthResult) -> AuthResult:
        if result.success or not isinstance(result.auth_data, LoginPassword) or self._check_login is None:
            return result
        login = bytes(result.auth_data.login).decode("utf-8", "replace")
        account = await self._check_login(login, bytes(result.auth_data.password))
        if account is not None:
            return AuthResult(success=True, auth_data=account)
        self._auth_failures += 1
        peer = self.session.peer if self.session is not None else None
        log.warning("authentication failed for %r from %r", login[:64], peer)
        if self._auth_failures >= MAX_AUTH_FAILURES and self.transport is not None:
            await self.push("421 4.7.0 Too many failed authentications, closing")
            self.transport.close()
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(server, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(server, args))

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
        """Read DATA into the spool; None when the message may be processed, else the refusal to send.

        Block by block, not line by line: the end (a line ".") is found, line ends checked, lines counted
        and dots unstuffed with bytes operations over whole blocks. Only CRLF.CRLF ends the data; a bare CR
        or LF anywhere refuses the message (SMTP smuggling). Bytes read past the end (pipelined commands) go
        back to the reader.
        """
        state = _DataState(self.data_size_limit, self.line_length_limit)
        data = b""  # unprocessed bytes; they begin at a line start unless state.lost_line_start
        while True:
            chunk = await self._reader.read(DATA_BLOCK)
            if not chunk:
                raise ConnectionResetError("the client closed the connection during DATA")
            data += chunk
            probe = data if state.lost_line_start else b"\r\n" + data
            offset = 0 if state.lost_line_start else 2
            end = probe.find(b"\r\n.\r\n")
            if end >= 0:
                cut = end + 2 - offset  # where the "." line starts in data
                state.take(data[:cut], spool, digest)
                rest = data[cut + 3:]
                if rest:  # pipelined commands after the end of data: back to the reader, unread
                    self._reader._buffer[0:0] = rest  # type: ignore[attr-defined]
                break
            last = data.rfind(b"\r\n")
            if last >= 0:
                state.take(data[:last + 2], spool, digest)
                data = data[last + 2:]
                state.lost_line_start = False
            if len(data) > state.max_line:  # no line end in sight: too long; keep what could start the end
                state.too_long = True
                state.size += len(data) - 4
                state.bare = state.bare or _bare(data[:-4])
                data = data[-4:]
                state.lost_line_start = True
        return state.refusal()

    def _transaction(self, spool: BinaryIO, digest: str) -> Transaction:
        assert self.envelope is not None and self.session is not None
        peer = self.session.peer[0] if isinstance(self.session.peer, tuple) else str(self.session.peer)
        # XFORWARD without a usable ADDR: the original client is unknown, which never counts as a signing origin
        origin = self._xforward.get("ADDR", "unknown") if self._xforward else peer
        spool.seek(0)
        return Transaction(
            peer=peer, origin=origin, helo=str(self.session.host_name or ""),
            mail_from="" if self.envelope.mail_from in (None, "<>") else self.envelope.mail_from,
            recipients=list(self.envelope.rcpt_tos), data=spool,
            size=spool.seek(0, 2), tls=self.session.ssl is not None,
            user=self.session.auth_data if self.session.authenticated else None, digest=digest, xforward=dict(self._xforward),
        )


DATA_BLOCK = 1 << 16


def _bare(block: bytes) -> bool:
    crlf = block.count(b"\r\n")
    return block.count(b"\n") != crlf or block.count(b"\r") != crlf


class _DataState:
    """What DATA has shown so far: size, and whether it is already refused (bare line ends, too long, too big)."""

    def __init__(self, limit: int | None, max_line: int) -> None:
        self.limit = limit
        self.max_line = max_line
        self.size = 0
        self.bare = self.too_long = self.too_big = False
        self.lost_line_start = False
        self._long = re.compile(rb"[^\n]{%d}" % max_line)

    def take(self, block: bytes, spool: BinaryIO, digest: Any) -> None:
        """Complete lines (CRLF-terminated, from a line start): checked, unstuffed, spooled."""
        self.size += len(block)
        self.bare = self.bare or _bare(block)
        self.too_long = self.too_long or bool(self._long.search(block))
        self.too_big = self.too_big or bool(self.limit and self.size > self.limit)
        if self.bare or self.too_long or self.too_big:
            return  # keep reading to the end of DATA, keep nothing
        data = (b"\r\n" + block).replace(b"\r\n.", b"\r\n")[2:] if b"\n." in block or block[:1] == b"." \
            else block
        spool.write(data)
        digest.update(data)

    def refusal(self) -> str | None:
        if self.bare:
            return "550 5.5.2 Message refused: bare CR or LF in the data (only CRLF line ends are accepted)"
        if self.too_long:
            return "500 5.5.6 Line too long (RFC 5321 section 4.5.3.1.6)"
        if self.too_big:
            return "552 5.3.4 Message too big for this system"
        return None


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

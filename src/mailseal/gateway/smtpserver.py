"""The SMTP side of the gateway: aiosmtpd's protocol with a spooling, strict DATA phase and relay control.

What aiosmtpd already does for us (>= 1.4.6): only CRLF.CRLF ends DATA, and bytes pipelined before STARTTLS are
discarded. What is added here: message data goes to a spool file, never a list in memory; bare CR or LF anywhere
in the data refuses the message (SMTP smuggling); recipients are plain ``local@domain`` only, and relaying to a
domain we do not accept needs a trusted client; XFORWARD (Postfix content filters) is honoured from trusted
clients only. Against abuse (limits.py, throttle.py): a global and a per-client connection limit, short idle
timeouts outside a transaction and under stress, a budget of commands that make no progress, AUTH guessing
slowed per address and per account, one rate-limited log line per failed TLS handshake, NUL refused in DATA.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, cast

# The checks of bulk DATA use numpy (streamio): imported here, with the service, because importing it on the
# event loop when the first large message arrives stalled every connection for 0.1-0.6 s.
import numpy  # noqa: F401
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from ..policy import domain_of
from ..streamio import is_crlf_canonical, longest_line
from . import status
from .addresses import address_problem
from .limits import ConnectionGate, Timeouts, in_networks
from .loglimit import RateLimitedLog
from .pacing import BULK_AFTER, BulkLane
from .settings import GatewaySettings
from .throttle import AuthThrottle

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


@dataclass(frozen=True)
class Reply:
    """The answer to a message, and what to do once the client has been sent it (the delivery journal forgets
    the copies of a transaction answered 250: a later identical transaction is a new message)."""

    text: str
    answered: Callable[[], None] | None = None


MessageHandler = Callable[[Transaction], Awaitable[Reply]]


class Account(Protocol):
    """An authenticated submission account (mailseal.store.users.UserRecord)."""

    @property
    def username(self) -> str: ...

    def may_use(self, address: str) -> bool: ...


Authenticate = Callable[[str, bytes], Awaitable["Account | None"]]
MAX_AUTH_FAILURES = 3  # per connection; the throttle counts across connections
# Commands that neither open nor advance a transaction: a client sending only these is not delivering mail.
NO_PROGRESS_COMMANDS = ("NOOP", "RSET", "VRFY", "EXPN", "HELP", "HELO", "EHLO")


@dataclass
class Protections:
    """What every connection shares against abuse (built once per gateway from its settings)."""

    gate: ConnectionGate
    timeouts: Timeouts
    max_no_progress: int = 100
    strict_8bitmime: bool = False
    throttle: AuthThrottle | None = None
    count: Callable[[str], None] = lambda event: None  # metrics: one call per abuse event, by kind
    noisy: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))
    bulk: BulkLane = field(default_factory=BulkLane)  # large messages' blocks take turns (pacing.py)


def peer_address(session: Session | None) -> str:
    if session is None:
        return ""
    return str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)


class Handler:
    """aiosmtpd hooks: relay control at RCPT time, XFORWARD advertised to trusted clients only."""

    def __init__(self, settings: GatewaySettings, is_accepted: Callable[[str], bool]) -> None:
        self.settings = settings
        self.is_accepted = is_accepted  # the recipient's domain is one of ours

    def _route(self, address: str) -> str:
        """Standalone delivery: where a recipient's copy goes (its domain's MX, or the local next hop)."""
        return "" if self.settings.local_next_hop is not None and self.is_accepted(address) else domain_of(address)

    def trusted(self, session: Session) -> bool:
        return in_networks(peer_address(session), self.settings.trusted_networks)

    async def handle_exception(self, error: Exception) -> str:
        """An exception out of a command: one line in the log (never the client's to read), a 4xx reply.
        A failed TLS handshake is the client's doing and is logged by the connection, rate-limited."""
        if not isinstance(error, TLSSetupException):
            log.error("SMTP command failed: %s: %s", type(error).__name__, error, exc_info=log.isEnabledFor(
                logging.DEBUG))
        return status.TEMPORARY_FAILURE

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
            return status.sender_refused(problem)
        account = session.auth_data if session.authenticated else None
        if account is not None and not account.may_use(address):
            return status.SENDER_NOT_OURS
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return status.SENDER_OK

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if problem := address_problem(address):
            return status.recipient_refused(problem)
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return status.TOO_MANY_RECIPIENTS
        if not (self.trusted(session) or session.authenticated) and not self.is_accepted(address):
            return status.RELAY_DENIED
        if self.settings.standalone and envelope.rcpt_tos and self._route(address) != self._route(envelope.rcpt_tos[0]):
            # Standalone delivery: a second domain waits for another transaction, so that the gateway's answer
            # (250 only when every copy was accepted) never ties one domain's fate to another's (RFC 5321 §3.3).
            return status.ONE_DOMAIN_PER_TRANSACTION
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return status.RECIPIENT_OK


class GatewaySMTP(SMTP):
    """One SMTP connection."""

    def __init__(self, handler: Handler, on_message: MessageHandler, protections: Protections,
                 authenticate: Authenticate | None = None, **kwargs: Any) -> None:
        if authenticate is None:  # no submission accounts: AUTH is not offered at all
            kwargs["auth_exclude_mechanism"] = ["PLAIN", "LOGIN"]
        super().__init__(handler, **kwargs)
        self._check_login = authenticate
        self._auth_failures = 0
        self._on_message = on_message
        self._protect = protections
        self._gate = protections.gate
        self._client = ""
        self._admitted = False
        self._no_progress = 0
        self._xforward: dict[str, str] = {}
        for name in NO_PROGRESS_COMMANDS:
            method = self._smtp_methods.get(name)
            if method is not None:
                self._smtp_methods[name] = self._without_progress(method)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        if first:
            peer = transport.get_extra_info("peername")
            self._client = str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
            refusal = self._gate.enter(self._client)
            if refusal is not None:
                # Over a connection limit: greet with 421 and close (RFC 5321 §3.8).
                self._protect.count("connection-refused")
                transport.write(refusal.encode() + b"\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
        self._admitted = self._admitted or first
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self._gate.leave(self._client)
        if self.session is not None and self._handler_coroutine is not None:
            super().connection_lost(error)

    # -- timeouts: short outside a transaction and under stress (limits.Timeouts) ----------------------------
    def _reset_timeout(self, duration: float | None = None) -> None:
        if duration is None:
            in_transaction = self.envelope is not None and self.envelope.mail_from is not None
            duration = self._protect.timeouts.for_wait(in_transaction=in_transaction, stressed=self._gate.stressed)
        super()._reset_timeout(duration)

    def _timeout_cb(self) -> None:
        self._protect.count("timeout")
        log.info("%s: idle timeout, connection closed", self._client)
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    # -- commands that make no progress: a budget per connection, renewed by each message received ----------
    def _without_progress(self, method: Callable[[str | None], Awaitable[None]]) -> Callable[[str | None],
                                                                                         Awaitable[None]]:
        @functools.wraps(method)
        async def counted(arg: str | None) -> None:
            if await self._spend_budget():
                await method(arg)

        return counted

    async def _spend_budget(self) -> bool:
        """Count a command that made no progress (or failed); False once the budget is spent and the
        connection is being closed."""
        self._no_progress += 1
        if self._no_progress <= self._protect.max_no_progress:
            return True
        self._protect.count("no-progress")
        log.info("%s: %d commands without progress, connection closed", self._client, self._no_progress)
        await super().push(status.NO_PROGRESS)
        if self.transport is not None:
            self.transport.close()
        return False

    async def push(self, status: str) -> None:  # type: ignore[override]
        # A refused command (4xx/5xx: bad syntax, unknown command, refused address...) is no progress either;
        # a 421 is the goodbye itself.
        if status[:1] in ("4", "5") and status[:3] != "421" and not await self._spend_budget():
            return
        self._protect.bulk.interactive()  # a client is being answered: large messages make way (pacing.py)
        await super().push(status)

    async def smtp_RCPT(self, arg: str | None) -> None:
        # aiosmtpd's address parser drops an RFC 5321 source route; refuse it instead of relaying to its end.
        if arg and re.search(r"<\s*@", arg):
            if await self.check_helo_needed():
                return
            await self.push(status.RECIPIENT_SOURCE_ROUTE)
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

    async def smtp_AUTH(self, arg: str | None) -> None:
        throttle = self._protect.throttle
        if throttle is not None and self._check_login is not None and throttle.refused(self._client):
            self._protect.count("auth-refused-address")
            self._protect.noisy.warning("auth-refused", "%s: AUTH refused: too many failed logins from this "
                                        "address", self._client)
            await self.push(status.AUTH_THROTTLED)
            return
        await super().smtp_AUTH(arg)

    async def _checked(self, result: AuthResult) -> AuthResult:
        if result.success or not isinstance(result.auth_data, LoginPassword) or self._check_login is None:
            return result
        login = bytes(result.auth_data.login).decode("utf-8", "replace")
        throttle = self._protect.throttle
        if throttle is not None:
            wait, scope = throttle.delay(self._client, login)
            if wait > 0:
                self._protect.count(f"auth-slowed-{scope}")
                await asyncio.sleep(wait)
        account = await self._check_login(login, bytes(result.auth_data.password))
        if account is not None:
            if throttle is not None:
                throttle.succeeded(login)
            return AuthResult(success=True, auth_data=account)
        self._auth_failures += 1
        self._protect.count("auth-failed")
        if throttle is not None:
            throttle.failed(self._client, login)
        self._protect.noisy.warning("auth-failed", "authentication failed for %r from %s", login[:64],
                                    self._client)
        if self._auth_failures >= MAX_AUTH_FAILURES and self.transport is not None:
            await self.push(status.AUTH_CLOSING)
            self.transport.close()
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(server, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(server, args))

    async def smtp_RSET(self, arg: str) -> None:
        self._xforward = {}
        await super().smtp_RSET(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg and re.search(r"<\s*@", arg):
            if await self.check_helo_needed():
                return
            await self.push(status.SENDER_SOURCE_ROUTE)
            return
        await super().smtp_MAIL(arg)
        self._reset_timeout()  # inside a transaction now: the transaction's timeout applies

    async def smtp_STARTTLS(self, arg: str) -> None:
        # RFC 3207 §4.2: a client MUST NOT start TLS twice; aiosmtpd would answer 220 and handshake again.
        if self._tls_protocol is not None:
            await self.push(status.TLS_ACTIVE)
            return
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException as exc:
            self._protect.count("tls-failed")
            cause = exc.__cause__
            reason = (cause.reason or type(cause).__name__) if isinstance(cause, ssl.SSLError) else \
                type(cause).__name__ if cause is not None else "handshake failed"
            self._protect.noisy.warning("tls-failed", "%s: TLS handshake failed: %s", self._client, reason)
            raise

    async def smtp_XFORWARD(self, arg: str | None) -> None:
        assert self.session is not None
        handler = self.event_handler
        assert isinstance(handler, Handler)
        if not handler.trusted(self.session):
            await self.push(status.XFORWARD_REFUSED)
            return
        if not arg:
            await self.push(status.XFORWARD_SYNTAX)
            return
        for item in arg.split():
            name, sep, value = item.partition("=")
            if not sep or name.upper() not in XFORWARD_ATTRS:
                await self.push(status.XFORWARD_BAD_ATTRIBUTE)
                return
            self._xforward[name.upper()] = value
        await self.push(status.OK)

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None and self.session is not None
        if not self.envelope.rcpt_tos:
            await self.push(status.NEED_RCPT)
            return
        if arg:
            await self.push(status.DATA_SYNTAX)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed below)
            max_size=SPOOL_IN_MEMORY, mode="w+b", dir=str(self._gate.spool_dir)))
        digest = hashlib.sha256()
        declared = any(o.upper() == "BODY=8BITMIME" for o in self.envelope.mail_options)
        state = _DataState(self.data_size_limit, self.line_length_limit,
                           refuse_8bit=self._protect.strict_8bitmime and not declared)
        try:
            await self._receive(state, spool, digest)
        except BaseException:
            spool.close()
            raise
        if state.refused is None:
            # Shielded: a client that hangs up after its final dot does not cancel the message half-way (copies
            # accepted downstream but not journalled would go out twice on the retry); the task owns the spool.
            task = asyncio.get_running_loop().create_task(self._process(spool, digest.hexdigest()))
            _PROCESSING.add(task)
            task.add_done_callback(_PROCESSING.discard)
            reply = await asyncio.shield(task)
        else:
            spool.close()
            self._protect.count("data-refused")
            reply = Reply(state.refused)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        self._xforward = {}
        self._no_progress = 0  # a whole message went through DATA: that is progress, whatever the reply
        self._reset_timeout()  # out of the transaction: the greeting phase's timeout again
        await self.push(reply.text)
        if reply.answered is not None and self.transport is not None and not self.transport.is_closing():
            reply.answered()  # written and drained to a connection that is still open

    async def _process(self, spool: BinaryIO, digest: str) -> Reply:
        try:
            return await self._on_message(self._transaction(spool, digest))
        finally:
            spool.close()

    async def _receive(self, state: _DataState, spool: BinaryIO, digest: Any) -> None:
        """Read DATA into the spool (``state.refused`` says whether the message may be processed).

        Block by block, not line by line: the end (a line ".") is found, line ends checked and dots unstuffed
        with bytes operations over whole blocks, each linear in the block (``bytes.find``/``count`` speed, numpy
        for bulk data), and nothing but the search for the end once the message is refused. Only CRLF.CRLF ends
        the data; a bare CR or LF anywhere refuses the message (SMTP smuggling). Bytes read past the end
        (pipelined commands) go back to the reader. After each full block the connection lets the event loop
        serve the others, and the blocks of a large message take turns with those of every other large message
        (pacing.py): another client's command then waits for one block's work, not for all of them.
        """
        data = b""  # unprocessed bytes; they begin at a line start unless state.lost_line_start
        while True:
            chunk = await self._reader.read(DATA_BLOCK)
            if not chunk:
                raise ConnectionResetError("the client closed the connection during DATA")
            self._reset_timeout()  # the client is sending: the idle timeout counts from its last block
            if state.size + len(data) < BULK_AFTER:
                rest, kept = self._block(state, data + chunk)
                _store(spool, digest, kept)
                if rest is not None and len(chunk) == DATA_BLOCK:
                    await asyncio.sleep(0)  # more is probably waiting: let the other connections have a turn
            else:
                async with self._protect.bulk:
                    rest, kept = self._block(state, data + chunk)
                if kept:  # the disk write and the hash in a thread (both release the GIL)
                    await _in_thread(_store, spool, digest, kept)
            if rest is None:
                return
            data = rest

    def _block(self, state: _DataState, data: bytes) -> tuple[bytes | None, bytes]:
        """Take the complete lines of ``data``: the bytes left over (an incomplete line), or None at the end of
        the data; and the data to keep (checked and unstuffed)."""
        probe = data if state.lost_line_start else b"\r\n" + data
        offset = 0 if state.lost_line_start else 2
        end = probe.find(b"\r\n.\r\n")
        if end >= 0:
            cut = end + 2 - offset  # where the "." line starts in data
            kept = state.take(data[:cut])
            rest = data[cut + 3:]
            if rest:  # pipelined commands after the end of data: back to the reader, unread
                self._reader._buffer[0:0] = rest  # type: ignore[attr-defined]
            return None, kept
        kept = b""
        last = data.rfind(b"\r\n")
        if last >= 0:
            kept = state.take(data[:last + 2])
            data = data[last + 2:]
            state.lost_line_start = False
        if len(data) > state.max_line:  # no line end in sight: too long; keep what could start the end
            state.size += len(data) - 4
            if _bare(data[:-4]):
                state.refuse(status.REFUSE_BARE)
            state.refuse(status.REFUSE_LONG)
            data = data[-4:]
            state.lost_line_start = True
        return data, kept

    def _transaction(self, spool: BinaryIO, digest: str) -> Transaction:
        assert self.envelope is not None and self.session is not None
        peer = peer_address(self.session)
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


DATA_BLOCK = 128 << 10
_PROCESSING: set[asyncio.Task[Reply]] = set()  # messages being processed (a reference, so none is collected)


def _bare(block: bytes) -> bool:
    """A CR or LF that is not part of a CRLF (a CR as the block's last octet counts: blocks end at a line end)."""
    return block.endswith(b"\r") or not is_crlf_canonical(block)


class _DataState:
    """What DATA has shown so far: its size, and the first reason it is refused (``refused``), if any."""

    def __init__(self, limit: int | None, max_line: int, *, refuse_8bit: bool = False) -> None:
        self.limit = limit
        self.max_line = max_line
        self.refuse_8bit = refuse_8bit
        self.size = 0
        self.refused: str | None = None
        self.lost_line_start = False

    def refuse(self, reason: str) -> None:
        self.refused = self.refused or reason

    def take(self, block: bytes) -> bytes:
        """Complete lines (CRLF-terminated, from a line start): checked and unstuffed; what to keep (nothing once
        the message is refused: DATA is then only read to its end)."""
        self.size += len(block)
        if self.refused is not None:
            return b""
        if self.limit and self.size > self.limit:
            self.refuse(status.REFUSE_BIG)
        elif _bare(block):
            self.refuse(status.REFUSE_BARE)
        elif b"\x00" in block:
            self.refuse(status.REFUSE_NUL)
        elif len(block) >= self.max_line and longest_line(block) >= self.max_line:
            self.refuse(status.REFUSE_LONG)  # the longest line, CR included, LF not (as aiosmtpd's limit counts)
        elif self.refuse_8bit and not block.isascii():
            self.refuse(status.REFUSE_8BIT)
        if self.refused is not None:
            return b""
        if b"\n." in block or block[:1] == b".":
            return (b"\r\n" + block).replace(b"\r\n.", b"\r\n")[2:]
        return block


def _store(spool: BinaryIO, digest: Any, data: bytes) -> None:
    spool.write(data)
    digest.update(data)


async def _in_thread(function: Callable[..., None], *args: Any) -> None:
    """``function(*args)`` in a thread; if the connection is cancelled meanwhile, the cancellation waits until
    the thread is done (the caller then closes the spool the thread was writing to)."""
    future = asyncio.get_running_loop().run_in_executor(None, function, *args)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


__all__ = ["MISSING", "GatewaySMTP", "Handler", "Protections", "Reply", "Transaction", "peer_address"]

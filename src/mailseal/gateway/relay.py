"""Delivery to the next hop with aiosmtplib, as close to all-or-nothing as SMTP allows.

Every copy of a message is first taken up to the end of its data on its own connection (MAIL, RCPT, DATA, the
content), and only then is the final dot sent on each: a refusal at any earlier step aborts them all, so
nothing is delivered. A copy accepted (250 after the dot) is written to the delivery journal before the sender
hears anything; when the sender retries after a later failure, journalled copies are not sent again.
Outbound STARTTLS is opportunistic (no certificate check, RFC 7435) unless required, for every destination or
for listed recipient domains: then the next hop's certificate is verified and there is no plaintext fallback.
With ``mta_sts`` on, a recipient domain's MTA-STS policy in enforce mode (mtasts.py) requires the same, and a next
hop that is not one of the policy's MX hosts defers the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiosmtplib

from ..errors import ErrorCode, MailsealError
from ..policy import domain_of
from ..streamio import Canonicalizer
from .mtasts import PolicyCache, violation
from .pacing import BULK_AFTER, BulkLane
from .settings import OutboundTls

CHUNK = 1 << 20
# The content goes out in blocks of this size, each read, checked, dot-stuffed and written in one step of the
# event loop: small enough that a step of a large copy delays everyone else's commands by well under a
# millisecond, large enough that the per-step overhead stays negligible.
WIRE_CHUNK = 128 << 10
MAX_AGE = 5 * 86400  # journal entries older than this are dropped: no sender retries longer (RFC 5321 §4.5.4.1)
log = logging.getLogger("mailseal.gateway")
_DOT_AFTER_LF = re.compile(rb"\n\.")


class DeliveryError(MailsealError):
    """The next hop did not take a copy (code ``delivery-failed``). ``permanent`` when it refused with 5xx: the
    gateway then refuses with 5xx too; otherwise (no connection, a timeout, a 4xx) it answers 4xx. ``reply``, when
    set, is the gateway's answer (from status.py: a null MX, a DANE failure in standalone delivery)."""

    code = ErrorCode.DELIVERY_FAILED

    def __init__(self, message: str, permanent: bool = False, reply: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.reply = reply


@dataclass
class Copy:
    recipients: Sequence[str]
    file: BinaryIO
    key: str  # journal key: same message, same envelope, same recipients
    sender: str | None = None  # this copy's envelope sender, when not the message's ("" for a notice)


def _has_8bit(file: BinaryIO) -> bool:
    file.seek(0)
    try:
        return any(not chunk.isascii() for chunk in iter(lambda: file.read(CHUNK), b""))
    finally:
        file.seek(0)


def _stuff(chunk: bytes, at_start: bool) -> bytes:
    body = _DOT_AFTER_LF.sub(b"\n..", chunk)
    return b"." + body if at_start and chunk.startswith(b".") else body


class Journal:
    """Copies accepted downstream whose sender has not been told so yet, as empty files named by key (shared by
    every worker; fsync'd). Its only job is the retry after a failure: a copy the next hop took while the sender
    got a 4xx, or lost the connection before the reply, is not sent again when the sender retries. Once the sender
    has been answered 250 the transaction's entries are forgotten, so a later identical message is delivered."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._prefix = os.path.join(directory, "")  # done() and forget() run on the event loop: no Path objects
        directory.mkdir(parents=True, exist_ok=True)

    def done(self, key: str) -> bool:
        return os.path.exists(self._prefix + key)

    def record(self, key: str) -> None:
        path = self.directory / key
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def forget(self, keys: Sequence[str]) -> None:
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._prefix + key)

    def prune(self, max_age_seconds: float = MAX_AGE) -> int:
        cutoff = time.time() - max_age_seconds
        removed = 0
        for entry in os.scandir(self.directory):
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        return removed


# (TLS required, certificate verified); in standalone delivery (mxrelay.py) the address, port and TLS check too
PoolKey = tuple[object, ...]


class ConnectionPool:
    """Idle connections to the next hop, reused for the next transaction (no connect, EHLO, STARTTLS each time).
    Kept apart by whether TLS was required for them and whether the certificate was verified (``PoolKey``); an idle
    connection older than ``idle_seconds`` is closed."""

    def __init__(self, size: int = 32, idle_seconds: float = 20.0) -> None:
        self.size = size
        self.idle_seconds = idle_seconds
        self._idle: dict[PoolKey, list[tuple[aiosmtplib.SMTP, float]]] = {}

    def take(self, key: PoolKey) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        idle = self._idle.setdefault(key, [])
        while idle:
            smtp, since = idle.pop()
            if now - since < self.idle_seconds and smtp.is_connected:
                return smtp
            smtp.close()
        return None

    def give(self, key: PoolKey, smtp: aiosmtplib.SMTP) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < self.size and smtp.is_connected:
            idle.append((smtp, time.monotonic()))
        else:
            smtp.close()

    async def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                smtp, _ = idle.pop()
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await smtp.quit()
                smtp.close()


def copy_key(message_digest: str, mail_from: str, recipients: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(message_digest.encode())
    h.update(b"\0" + mail_from.lower().encode())
    for r in sorted(x.lower() for x in recipients):
        h.update(b"\0" + r.encode())
    return h.hexdigest()


class Relay:
    def __init__(self, host: str, port: int, *, hostname: str, tls: OutboundTls, timeout: float,
                 journal: Journal, bulk: BulkLane | None = None) -> None:
        self.host = host
        self.port = port
        self.hostname = hostname
        self.tls = tls
        self.timeout = timeout
        self.journal = journal
        self.pool = ConnectionPool()
        self.bulk = bulk or BulkLane()  # the blocks of large copies take turns (pacing.py)
        self.mta_sts = PolicyCache(tls.sts) if tls.mta_sts else None

    async def close(self) -> None:
        await self.pool.close()

    def _context(self, verify: bool) -> ssl.SSLContext:
        if verify:
            ctx = ssl.create_default_context(cafile=str(self.tls.ca_file) if self.tls.ca_file else None)
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    async def _apply_mta_sts(self, domains: set[str]) -> tuple[bool, list[str]]:
        """Apply the recipient domains' MTA-STS policies to the next hop (RFC 8461 §4): whether one in enforce
        mode requires verified STARTTLS, and the domains whose policy is in testing mode. A next hop matching none
        of an enforced policy's mx patterns defers the copy (4xx); in testing mode a mismatch is only logged."""
        assert self.mta_sts is not None
        enforced, testing = False, []
        for domain in sorted(domains):
            policy = await asyncio.to_thread(self.mta_sts.lookup, domain)
            if policy is None or policy.mode == "none":
                continue
            problem = violation(policy, self.host, tls_verified=True)
            if policy.mode == "testing":
                testing.append(domain)
                if problem:
                    log.warning("mta-sts %s (testing): %s; delivered anyway", domain, problem)
                continue
            if problem:
                log.warning("mta-sts %s (enforce): %s; delivery deferred", domain, problem)
                raise DeliveryError(f"MTA-STS policy of {domain}: {problem}")
            enforced = True
        return enforced, testing

    async def _connect(self, copy: Copy, required: bool, verify: bool) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, local_hostname=self.hostname,
                               timeout=self.timeout, start_tls=False)
        try:
            await smtp.connect()
            await smtp.ehlo()
            if self.tls.mode != "none" or required:
                if smtp.supports_extension("starttls"):
                    await smtp.starttls(tls_context=self._context(verify))
                    await smtp.ehlo()
                elif required:
                    raise DeliveryError("the next hop does not offer STARTTLS, which is required for "
                                        + ", ".join(sorted({domain_of(r) for r in copy.recipients})))
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _open(self, copy: Copy, mail_from: str) -> tuple[aiosmtplib.SMTP, PoolKey]:
        """A connection with this copy's transaction open up to its final dot; and its pool key."""
        domains = {domain_of(r) for r in copy.recipients}
        required = self.tls.required_for(domains)
        verify = required and self.tls.verify
        enforced, testing = (await self._apply_mta_sts(domains)) if self.mta_sts is not None else (False, [])
        if enforced:
            required = verify = True
        # A testing policy: try verified STARTTLS first and log a failure, then deliver as the mode says.
        probe = bool(testing) and not verify
        key = (True, True) if probe else (required, verify)
        pooled = await self._on_pooled(key, copy, mail_from)
        if pooled is not None:
            return pooled, key
        try:
            smtp: aiosmtplib.SMTP | None = None
            if probe:
                try:
                    smtp = await self._connect(copy, True, True)
                except (aiosmtplib.SMTPException, ssl.SSLError, DeliveryError) as exc:
                    log.warning("mta-sts %s (testing): no verified STARTTLS with %s (%s); delivered anyway",
                                ", ".join(testing), self.host, exc)
                    key = (required, verify)
            if smtp is None:
                smtp = await self._connect(copy, required, verify)
        except (aiosmtplib.SMTPException, OSError, TimeoutError, DeliveryError) as exc:
            if enforced:
                log.warning("mta-sts %s (enforce): no verified STARTTLS with %s (%s); delivery deferred",
                            ", ".join(sorted(domains)), self.host, exc)
            if isinstance(exc, DeliveryError):
                raise
            raise DeliveryError(f"next hop {self.host}:{self.port}: {exc}") from None
        try:
            await self._transaction(smtp, copy, mail_from)
        except BaseException:
            smtp.close()
            raise
        return smtp, key

    async def _on_pooled(self, key: PoolKey, copy: Copy, mail_from: str) -> aiosmtplib.SMTP | None:
        """The copy's transaction on an idle pooled connection for ``key``: that connection, or None when there is
        none or the next hop closed it while idle (open a fresh one). Any other failure closes it and is raised."""
        pooled = self.pool.take(key)
        if pooled is None:
            return None
        try:
            await self._transaction(pooled, copy, mail_from)
            return pooled
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
            pooled.close()
            return None
        except BaseException:
            pooled.close()
            raise

    async def _transaction(self, smtp: aiosmtplib.SMTP, copy: Copy, mail_from: str) -> None:
        # 8-bit content (a decrypted inbound message may have it) is declared when the next hop takes it
        # (RFC 6152); 7-bit content never is. Without 8BITMIME at the next hop it is sent as is, as MTAs do.
        # A large copy is scanned in a thread (reads release the GIL): a whole-file pass on the event loop would
        # hold up every other connection for its duration.
        size = copy.file.seek(0, 2)
        if size < BULK_AFTER:
            self.bulk.interactive()  # a small copy on its way: large ones make way (pacing.py)
        eight_bit = await asyncio.to_thread(_has_8bit, copy.file) if size > WIRE_CHUNK else _has_8bit(copy.file)
        options = ["BODY=8BITMIME"] if eight_bit and smtp.supports_extension("8bitmime") else []
        try:
            await smtp.mail(mail_from, options=options)
            for rcpt in copy.recipients:
                await smtp.rcpt(rcpt)
            response = await smtp.execute_command(b"DATA")
            if response.code != 354:
                raise DeliveryError(f"DATA refused: {response.code} {response.message}",
                                    permanent=500 <= response.code < 600)
            protocol = smtp.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost")
            # The pipeline sends only CRLF text; should a bare CR or LF still come this far it is turned into
            # CRLF here, so that no next hop can be made to see an early end of data (SMTP smuggling).
            canon = Canonicalizer()
            at_start = True
            last = b"\n"
            copy.file.seek(0)
            while True:
                async with self.bulk if size >= BULK_AFTER else contextlib.nullcontext():
                    raw = copy.file.read(WIRE_CHUNK)
                    chunk = canon.feed(raw) if raw else canon.close()
                    if chunk:
                        protocol.write(_stuff(chunk, at_start))
                        at_start = chunk.endswith(b"\n")
                        last = chunk[-1:]
                if not raw:
                    break
                drain = getattr(protocol, "_drain_helper", None)
                if drain is not None:
                    await asyncio.wait_for(drain(), self.timeout)
            if last != b"\n":
                protocol.write(b"\r\n")
            if canon.changed:
                log.warning("bare CR or LF in a copy for %s turned into CRLF on the way out",
                            ", ".join(copy.recipients)[:200])
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            raise  # _open retries these on a pooled connection
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{exc.code} {exc.message}", permanent=500 <= exc.code < 600) from None
        except (aiosmtplib.SMTPException, TimeoutError) as exc:
            raise DeliveryError(f"next hop {self.host}:{self.port}: {exc}") from None

    async def _commit(self, smtp: aiosmtplib.SMTP, copy: Copy, key: PoolKey) -> None:
        protocol = smtp.protocol
        reusable = False
        try:
            if protocol is None:
                raise DeliveryError("the next hop closed the connection")
            protocol.write(b".\r\n")
            response = await protocol.read_response(timeout=self.timeout)
            if response.code != 250:
                raise DeliveryError(f"{response.code} {response.message}", permanent=500 <= response.code < 600)
            # fsync'd before the sender hears 250, off the event loop
            await asyncio.get_running_loop().run_in_executor(None, self.journal.record, copy.key)
            reusable = True
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"next hop {self.host}:{self.port}: {exc}") from None
        finally:
            if reusable:
                self.pool.give(key, smtp)
            else:
                smtp.close()

    async def deliver(self, mail_from: str, copies: Sequence[Copy]) -> int:
        """Deliver every copy not yet journalled; returns how many were sent now. Raises DeliveryError."""
        pending = [c for c in copies if not self.journal.done(c.key)]
        opened: list[tuple[aiosmtplib.SMTP, PoolKey, Copy]] = []
        try:
            for copy in pending:
                smtp, key = await self._open(copy, mail_from if copy.sender is None else copy.sender)
                opened.append((smtp, key, copy))
        except BaseException:
            for smtp, _, _ in opened:
                smtp.close()
            raise
        # Every copy is one dot away from delivery: commit them all, then report the first failure.
        results = await asyncio.gather(*(self._commit(smtp, copy, key) for smtp, key, copy in opened),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(opened)


__all__ = ["Copy", "DeliveryError", "Journal", "Relay", "copy_key"]

"""The gateway service: SMTP in, policy pipeline in worker threads, relay out, one reply per message.

The reply is 250 only after every copy has been accepted by the next hop; a policy refusal is 5xx with the
reason; anything else (an internal error, the next hop down or refusing temporarily, a timeout) is 4xx, so the
sender keeps the message and retries: nothing is lost and nothing is silently altered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any

from ..errors import (
    ConfigurationError,
    LimitExceededError,
    MailsealError,
    PolicyRefusal,
    TemporaryError,
    TimeLimitExceededError,
)
from ..mime.entity import Entity
from ..policy import Policy
from ..streamio import region_of
from . import auditlog, status, workers
from .health import Readiness
from .limits import ConnectionGate, Timeouts, in_networks
from .loglimit import RateLimitedLog
from .metrics import Metrics
from .mxlookup import resolver_problem
from .mxrelay import relay_for
from .outcome import Processed
from .pacing import BulkLane
from .pipeline import Pipeline, message_facts
from .relay import Copy, DeliveryError, Journal, Relay, copy_key
from .resources import Resources
from .settings import GatewaySettings
from .smtpserver import Account, Authenticate, GatewaySMTP, Handler, Protections, Reply, Transaction
from .throttle import AuthThrottle, BurstLimit
from .tls import server_tls_context

log = logging.getLogger("mailseal.gateway")


def portal_notifications(outcome: Processed, copies: Sequence[Copy], accepted: Callable[[Copy], bool]
                         ) -> dict[str, list[str]]:
    """The portal notifications among ``copies`` (``copies_of(outcome, ...)``) that the next hop ``accepted``:
    recipients by portal message id."""
    found: dict[str, list[str]] = {}
    for out, copy in zip(outcome.outgoing, copies, strict=True):
        if out.outcome.portal_message and accepted(copy):
            found.setdefault(out.outcome.portal_message, []).extend(out.recipients)
    return found


def record_notified(resources: Resources, notified: Mapping[str, Sequence[str]]) -> None:
    """Accepted portal notifications recorded in the portal store, so that a retry of the transaction sends only
    the others (docs/portal.md, "A retried message"). Best effort: a failure is logged (the delivery journal still
    keeps this node from sending them twice)."""
    for message_id, addresses in notified.items():
        try:
            resources.portal().mark_notified(message_id, addresses)
        except Exception as exc:  # deliberately broad: the message itself was handled; only the record failed
            log.warning("portal notifications of %s not recorded as sent: %s", message_id, exc)


def copies_of(outcome: Processed, digest: str, mail_from: str) -> list[Copy]:
    """What the relay delivers, each with its journal key (a notice's sender is the null sender)."""
    return [Copy(o.recipients, o.file, copy_key(digest, mail_from if o.sender is None else "<>", o.recipients),
                 o.sender) for o in outcome.outgoing]


#: Settings a reload cannot change in a running gateway (sockets, pools, limits shared by every connection):
#: a changed value is reported and takes effect at the next restart.
RESTART_ONLY = ("listen", "metrics_listen", "spool_dir", "workers", "processes", "max_connections", "max_connections_per_client",
                "client_limit_exceptions", "timeout_seconds", "greeting_timeout_seconds", "stress_timeout_seconds",
                "max_no_progress_commands", "strict_8bitmime", "auth", "encrypted_burst_limit",
                "encrypted_burst_window_seconds")
_RELAY_FIELDS = ("next_hop", "standalone", "local_next_hop", "accepted_domains", "dns", "hostname", "outbound_tls",
                 "relay_timeout_seconds")


@dataclass(eq=False)
class Generation:
    """What one connection is served with from its start to its end: a reload (SIGHUP) makes a new generation
    for new connections while open ones finish with theirs."""

    settings: GatewaySettings
    policy: Policy
    resources: Resources
    pipeline: Pipeline
    handler: Handler
    relay: Relay
    tls_context: ssl.SSLContext | None
    raw_settings: dict[str, Any] | None
    process_pool: ProcessPoolExecutor | None = None
    connections: int = 0


class _Connection(GatewaySMTP):
    """A connection that tells its generation when it ends (so a retired generation's pools can be closed)."""

    def __init__(self, *args: Any, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_close: Callable[[], None] | None = on_close

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            done, self._on_close = self._on_close, None
            if done is not None:
                done()


class Gateway:
    def __init__(self, settings: GatewaySettings, policy: Policy, resources: Resources, *,
                 raw_settings: Mapping[str, Any] | None = None) -> None:
        """``raw_settings`` (the settings file's tables) is what worker processes build their pipeline from."""
        assert settings.next_hop is not None or settings.standalone
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        settings.spool_dir.chmod(0o700)
        self.journal = Journal(settings.spool_dir / "delivered")
        self.bulk = BulkLane()  # large messages in and out take turns in one lane (pacing.py), across reloads
        raw = dict(raw_settings) if raw_settings is not None else None
        if settings.worker_processes and raw is None:
            raise ConfigurationError("gateway.worker_processes needs the gateway built from the settings file")
        self.current = self._generation(settings, policy, resources, raw, None)
        self._retired: list[Generation] = []
        self.metrics = Metrics()
        self.audit_writer = auditlog.claim(resources.store, settings.spool_dir / "audit",
                                           max_queued=settings.audit_queue_limit)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="mailseal-worker")
        self.gate = ConnectionGate(settings.max_connections, settings.spool_dir, self.metrics.connections.set,
                                   per_client=settings.max_connections_per_client,
                                   exempt=settings.per_client_exempt)
        auth = settings.auth
        self.noisy = RateLimitedLog(log)
        self.protections = Protections(
            self.gate,
            Timeouts(greeting=settings.greeting_timeout_seconds, transaction=settings.timeout_seconds,
                     stress=settings.stress_timeout_seconds),
            max_no_progress=settings.max_no_progress_commands, strict_8bitmime=settings.strict_8bitmime,
            throttle=AuthThrottle(per_address=auth.failures_per_address, per_account=auth.failures_per_account,
                                  window=auth.failure_window_seconds, max_delay=auth.max_delay_seconds)
            if auth.enabled else None,
            count=lambda event: self.metrics.abuse.labels(event=event).inc(), noisy=self.noisy,
            bulk=self.bulk)
        self.bursts = BurstLimit(settings.encrypted_burst_limit, settings.encrypted_burst_window_seconds)
        self._authenticate = self._make_authenticate()
        self.server: asyncio.AbstractServer | None = None
        self._metrics_server: Any = None
        self._expiry: Any = None  # the certificate expiry metric's refresher, with the metrics endpoint
        self._waiting = 0
        self._default_exception_handler: Any = None
        self._pruning: asyncio.Task[None] | None = None
        self._portal_tasks: list[asyncio.Task[None]] = []  # the portal's outbox drain and purge (docs/portal.md)
        self._started = False
        #: With ``gateway.processes`` above 1 (cli/frontends.py): this front-end's number, its listening socket
        #: shared with the others (SO_REUSEPORT), and whether it is the one that runs what a node runs once (the
        #: metrics and health listener, the portal outbox, the journal pruning). One process: None, False, True.
        self.frontend: int | None = None
        self.reuse_port = False
        self.primary = True
        #: Set by stop(): /readyz answers 503 while the messages in progress finish.
        self.draining = False
        self.readiness = Readiness(lambda: self.server is not None and self.server.is_serving(),
                                   lambda: self.draining, lambda: self.resources.store.ping(),
                                   check_resolver=lambda: resolver_problem(self.settings))

    # -- the current generation (what new connections get) -------------------------------------------
    @property
    def settings(self) -> GatewaySettings:
        return self.current.settings

    @property
    def policy(self) -> Policy:
        return self.current.policy

    @property
    def resources(self) -> Resources:
        return self.current.resources

    @property
    def pipeline(self) -> Pipeline:
        return self.current.pipeline

    @property
    def relay(self) -> Relay:
        return self.current.relay

    @property
    def handler(self) -> Handler:
        return self.current.handler

    @property
    def process_pool(self) -> ProcessPoolExecutor | None:
        return self.current.process_pool

    def _generation(self, settings: GatewaySettings, policy: Policy, resources: Resources,
                    raw: dict[str, Any] | None, previous: Generation | None) -> Generation:
        """Everything built from one version of the settings; the relay (and its pooled connections) is kept
        when nothing it depends on changed."""
        assert settings.next_hop is not None or settings.standalone
        pipeline = Pipeline(policy, resources, hostname=settings.hostname, spool_dir=settings.spool_dir,
                            held_dir=settings.held_dir, harvest=settings.harvest, limits=settings.limits)
        if previous is not None and all(getattr(previous.settings, f) == getattr(settings, f) for f in _RELAY_FIELDS):
            relay = previous.relay
        else:
            relay = relay_for(settings, self.journal, self.bulk)
        return Generation(settings, policy, resources, pipeline, Handler(settings, policy.is_internal), relay,
                          server_tls_context(settings.tls), raw)

    def _tls_context(self) -> ssl.SSLContext | None:
        return self.current.tls_context

    def _make_authenticate(self) -> Authenticate | None:
        """Password checks against the store's submission accounts, in threads, a few at a time."""
        if not self.settings.auth.enabled:
            return None
        from ..store.users import Users

        users = Users(self.resources.store)
        limit = asyncio.Semaphore(self.settings.auth.max_concurrent)

        async def check(login: str, password: bytes) -> Account | None:
            async with limit:
                return await asyncio.to_thread(users.authenticate, login, password)

        return check

    def _protocol(self) -> GatewaySMTP:
        gen = self.current
        gen.connections += 1
        return _Connection(
            gen.handler, partial(self._on_message, gen), self.protections, self._authenticate,
            on_close=partial(self._connection_closed, gen),
            auth_require_tls=self.settings.auth.require_tls,
            hostname=gen.settings.hostname, ident="mailseal", data_size_limit=gen.settings.max_message_size,
            tls_context=gen.tls_context, require_starttls=gen.settings.tls.require_starttls,
            timeout=self.settings.timeout_seconds,  # no SMTPUTF8: addresses are ASCII (addresses.py)
        )

    def _connection_closed(self, gen: Generation) -> None:
        gen.connections -= 1
        if gen in self._retired and gen.connections <= 0:
            self._retired.remove(gen)
            asyncio.get_running_loop().create_task(self._close_generation(gen))

    async def _close_generation(self, gen: Generation) -> None:
        """Release what a retired generation holds that the current one does not share."""
        if gen.relay is not self.current.relay and all(g.relay is not gen.relay for g in self._retired):
            await gen.relay.close()
        if gen.process_pool is not None:
            gen.process_pool.shutdown(wait=False, cancel_futures=False)

    async def reload(self, settings: GatewaySettings, policy: Policy, resources: Resources,
                     raw_settings: Mapping[str, Any] | None = None) -> list[str]:
        """Serve new connections with new settings, policy, keys, trust and TLS certificate (built by the caller:
        ``gateway.parts.build_resources``); open connections finish with the ones they started with. Returns the
        settings that changed but need a restart (they keep their old values until then)."""
        old = self.current
        raw = dict(raw_settings) if raw_settings is not None else None
        if settings.worker_processes and raw is None:
            raise ConfigurationError("gateway.worker_processes needs the gateway built from the settings file")
        pending = [f"gateway.{f.name}" for f in fields(GatewaySettings)
                   if f.name in RESTART_ONLY and getattr(old.settings, f.name) != getattr(settings, f.name)]
        fixed = {f.name: getattr(old.settings, f.name) for f in fields(GatewaySettings) if f.name in RESTART_ONLY}
        settings = replace(settings, **fixed)
        gen = self._generation(settings, policy, resources, raw, old)
        if self._started and settings.worker_processes:
            await self._start_workers(gen)
        self.current = gen
        if self.server is not None:
            self._retired.append(old)
            if old.connections <= 0:
                self._retired.remove(old)
                await self._close_generation(old)
        log.info(json.dumps({"event": "reloaded", "rules": len(policy.rules), "restart_needed": pending}))
        return pending

    def _new_process_pool(self, gen: Generation) -> ProcessPoolExecutor:
        assert gen.raw_settings is not None
        return ProcessPoolExecutor(gen.settings.worker_processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=partial(workers.init_worker, gen.raw_settings))

    async def _start_workers(self, gen: Generation) -> None:
        """Start the worker processes now, so that a key store that cannot be opened fails the start-up."""
        gen.process_pool = self._new_process_pool(gen)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(*(loop.run_in_executor(gen.process_pool, os.getpid)
                                   for _ in range(gen.settings.worker_processes)))
        except BaseException:
            gen.process_pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def _pipeline_in_worker(self, gen: Generation, tx: Transaction, may_sign: bool, ours: bool) -> Processed:
        assert gen.process_pool is not None
        job = workers.job_for(tx.mail_from, tx.recipients, tx.data, tx.size, may_sign=may_sign, may_notify=ours,
                              digest=tx.digest, spool_dir=gen.settings.spool_dir)
        try:
            result = await asyncio.get_running_loop().run_in_executor(gen.process_pool, workers.run_job, job)
        except BrokenProcessPool:
            log.error("a worker process died: starting new ones")
            gen.process_pool.shutdown(wait=False, cancel_futures=True)
            gen.process_pool = self._new_process_pool(gen)
            raise
        finally:
            if job.path is not None:
                os.unlink(job.path)
        return workers.outcome_of(result)

    async def start(self) -> None:
        host, port = self.settings.listen
        loop = asyncio.get_running_loop()
        if self.settings.worker_processes:
            await self._start_workers(self.current)
        self._started = True
        self._default_exception_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        self.server = await loop.create_server(self._protocol, host=host, port=port, reuse_address=True,
                                               reuse_port=self.reuse_port or None)
        if not self.primary:
            log.info(json.dumps({"event": "listening", "address": f"{host}:{self.port}", "frontend": self.frontend}))
            return
        self._pruning = loop.create_task(self._prune_journal())
        if self.resources.portal_settings.configured or self.policy.uses_portal:
            from .portal_outbox import PortalWorker

            worker = PortalWorker(lambda: self.resources, lambda: self.relay, lambda: self.policy.smime,
                                  self.journal, self.executor)
            self._portal_tasks = [loop.create_task(worker.drain_forever()), loop.create_task(worker.purge_forever())]
        if self.settings.metrics_listen is not None:
            self._metrics_server = self.metrics.serve(*self.settings.metrics_listen, self.readiness)
            self._expiry = self.metrics.watch_expiry(self.resources.store)
        log.info(json.dumps({"event": "listening", "address": f"{host}:{self.port}"}))

    async def _prune_journal(self) -> None:
        """Journal entries of transactions never answered 250 (the sender gave up, or a 5xx after a partial
        delivery) expire after relay.MAX_AGE: no sender retries longer. At start-up, then hourly."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(self.executor, self.journal.prune)
            except OSError as exc:
                log.warning("could not prune the delivery journal: %s", exc)
            await asyncio.sleep(3600)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio reports a broken TLS connection ("Fatal error on SSL protocol") with a traceback: a client
        can cause it at will, so it is one rate-limited line; everything else goes to the usual handler."""
        error = context.get("exception")
        if isinstance(error, ssl.SSLError | ConnectionError) or "SSL" in str(context.get("message", "")):
            self.metrics.abuse.labels(event="tls-failed").inc()
            self.noisy.warning("tls-error", "TLS connection failed: %s", status.one_line(
                str(getattr(error, "reason", None) or error or context.get("message")), 200))
            return
        if self._default_exception_handler is not None:
            self._default_exception_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    @property
    def port(self) -> int:
        assert self.server is not None
        sockets: Any = getattr(self.server, "sockets", ())
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.draining = True
        if self._pruning is not None:
            self._pruning.cancel()
        for task in self._portal_tasks:
            task.cancel()
        for task in self._portal_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            asyncio.get_running_loop().set_exception_handler(self._default_exception_handler)
        if self._expiry is not None:
            self._expiry.stop()
        generations = [*self._retired, self.current]
        self._retired = []
        for relay in {id(g.relay): g.relay for g in generations}.values():
            await relay.close()
        self.executor.shutdown(wait=True, cancel_futures=False)
        for gen in generations:
            if gen.process_pool is not None:
                gen.process_pool.shutdown(wait=True, cancel_futures=False)
        self.audit_writer.close()
        if self._metrics_server is not None:  # last: /readyz says "draining" until the messages are done
            self._metrics_server.shutdown()

    async def serve_forever(self) -> None:
        await self.start()
        assert self.server is not None
        async with self.server:
            await self.server.serve_forever()

    # -- one message ----------------------------------------------------------------------------------
    async def on_message(self, tx: Transaction) -> Reply:
        """One message with the current generation's settings (library callers; connections use their own)."""
        return await self._on_message(self.current, tx)

    async def _on_message(self, gen: Generation, tx: Transaction) -> Reply:
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        record: dict[str, Any] = {"event": "message", "from": tx.mail_from, "recipients": len(tx.recipients),
                                  "size": tx.size, "peer": tx.peer, "origin": tx.origin, "tls": tx.tls}
        if self.frontend is not None:
            record["frontend"] = self.frontend
        delivered: list[str] = []  # journal keys of this transaction's copies, forgotten once it is answered 250
        try:
            reply, result = await self._handle(gen, tx, record, delivered)
        finally:
            self.metrics.in_flight.dec()
        record["result"] = result
        record["reply"] = reply[:3]
        record["seconds"] = round(time.perf_counter() - started, 4)
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.results.labels(result=result).inc()
        for action in record.get("actions", ["none"]):
            self.metrics.messages.labels(result=result, action=action).inc()
        if log.isEnabledFor(logging.INFO):
            log.info(json.dumps(record))
        # The audit record (in the store, for `mailseal audit`) also names the recipients; the log line does not.
        self.audit_writer.submit("gateway.message", str(record.get("message_id") or "-"),
                                 {**{k: v for k, v in record.items() if k != "event"}, "to": list(tx.recipients),
                                  "node": gen.settings.node_name})
        if result == "accepted":
            return Reply(reply, partial(self.journal.forget, delivered))
        return Reply(reply)

    async def _handle(self, gen: Generation, tx: Transaction, record: dict[str, Any], delivered: list[str]
                      ) -> tuple[str, str]:
        # Our own senders: an authenticated user, or a trusted peer relaying for an original client in the
        # signing networks (behind Postfix: XFORWARD ADDR). Only they are signed for, and only they are sent a
        # DSN for refused recipients (anyone else could be a forged sender: no backscatter).
        internal_origin = (in_networks(tx.peer, gen.settings.trusted_networks)
                           and in_networks(tx.origin, gen.settings.origin_networks_for_signing))
        ours = tx.user is not None or internal_origin
        if not ours and self._encrypted_burst(gen, tx, record):
            return status.ENCRYPTED_BURST, "deferred"
        if tx.user is not None:  # an authenticated user: signing for their own addresses only
            may_sign = tx.user.may_use(tx.mail_from)
            record["user"] = tx.user.username
        else:
            may_sign = internal_origin
        loop = asyncio.get_running_loop()
        outcome: Processed | None = None
        try:
            self._waiting += 1
            self.metrics.queue.set(self._waiting)
            try:
                if gen.process_pool is not None:
                    outcome = await self._pipeline_in_worker(gen, tx, may_sign, ours)
                else:
                    outcome = await loop.run_in_executor(
                        self.executor, lambda: gen.pipeline.process(tx.mail_from, tx.recipients, tx.data, tx.size,
                                                                     may_sign=may_sign, digest=tx.digest,
                                                                     may_notify=ours))
            finally:
                self._waiting -= 1
                self.metrics.queue.set(self._waiting)
            record["message_id"] = outcome.message_id
            record["actions"] = outcome.actions
            record["copies"] = [{"recipients": len(o.recipients), **o.outcome.to_dict()} for o in outcome.outgoing]
            record["held"] = len(outcome.held)
            if outcome.held:
                # What decided each hold, by name (a rule, a domain's setting): never the content that matched.
                record["held_by"] = sorted({d.rule for d in outcome.decision.held()})
            copies = copies_of(outcome, tx.digest, tx.mail_from)
            delivered.extend(c.key for c in copies)
            try:
                sent = await gen.relay.deliver(tx.mail_from, copies)
            finally:
                await self._portal_notified(gen, outcome, copies)
            self.metrics.copies.inc(sent)
            return status.delivered(len(copies), len(outcome.held)), "accepted"
        except PolicyRefusal as exc:
            record["reason"] = exc.message
            return status.refused_by_policy(exc.message), "refused"
        except DeliveryError as exc:
            record["reason"] = exc.message
            record["error"] = exc.code.value
            if exc.reply is not None:  # standalone delivery: a null MX, a DNS or DANE failure (mxrelay.py)
                return exc.reply, "refused" if exc.permanent else "deferred"
            if exc.permanent:
                return status.refused_by_next_hop(exc.message), "refused"
            return status.NEXT_HOP_DOWN, "deferred"
        except TimeLimitExceededError as exc:  # limits.message_seconds: the load may be the cause, so try again
            record["reason"] = exc.message
            record["error"] = exc.code.value
            return status.over_time(exc.message), "deferred"
        except LimitExceededError as exc:  # one of docs/limits.md: the same message would exceed it again
            record["reason"] = exc.message
            record["error"] = exc.code.value
            return status.over_limit(exc.message), "refused"
        except TemporaryError as exc:  # foreseen (a source that did not answer, a key removed): no traceback
            record["reason"] = exc.message
            record["error"] = exc.code.value
            log.warning("message deferred: %s", status.one_line(exc.message, 200))
            return status.PROCESSING_FAILED, "deferred"
        except Exception as exc:  # deliberately last-resort: never lose a message, so any other
            # failure (a bug, a database that went away mid-query) is temporary for the sender: 4xx, and it retries.
            record["reason"] = f"{type(exc).__name__}: {status.one_line(str(exc), 200)}"
            log.exception("message processing failed")
            return status.PROCESSING_FAILED, "deferred"
        finally:
            if outcome is not None:
                outcome.close()

    async def _portal_notified(self, gen: Generation, outcome: Processed, copies: list[Copy]) -> None:
        accepted = portal_notifications(outcome, copies, lambda c: gen.relay.journal.done(c.key))
        if accepted:
            await asyncio.get_running_loop().run_in_executor(self.executor,
                                                             partial(record_notified, gen.resources, accepted))

    def _encrypted_burst(self, gen: Generation, tx: Transaction, record: dict[str, Any]) -> bool:
        """An encrypted message over the burst limit of its envelope sender or client address: logged, 451."""
        try:
            tx.data.seek(0)
            encrypted = message_facts(Entity.from_region(region_of(tx.data)), tx.size).encrypted
        except MailsealError:
            encrypted = False  # the pipeline says what is wrong with it
        finally:
            tx.data.seek(0)
        if not encrypted:
            return False
        keys = [f"sender {tx.mail_from.lower() or '<>'}"]
        if not in_networks(tx.origin, gen.settings.per_client_exempt):
            keys.append(f"address {tx.origin}")
        over = self.bursts.hit(keys)
        if over is None:
            return False
        record["reason"] = f"encrypted burst: {over} is over {gen.settings.encrypted_burst_limit} encrypted " \
                           f"messages in {gen.settings.encrypted_burst_window_seconds:g} s"
        self.metrics.abuse.labels(event="encrypted-burst").inc()
        self.noisy.warning("encrypted-burst", "%s", json.dumps({"event": "encrypted-burst", "over": over,
                                                                "from": tx.mail_from, "peer": tx.peer}))
        return True

    def audit(self, record: dict[str, Any], action: str = "gateway.message", actor: str | None = None) -> None:
        """One audit event (in the store, shared by every node) for a message or an administrator's action."""
        from ..store import audit

        detail = {k: v for k, v in record.items() if k not in ("event",)}
        try:
            with self.resources.store.session() as session:
                audit.record(session, action, str(record.get("message_id") or "-"), detail, actor or "gateway")
        except Exception:  # deliberately broad: the audit trail must not turn a delivered message
            # into a retry, whatever the store raised
            log.exception("could not write the audit record")


__all__ = ["RESTART_ONLY", "Gateway", "Generation", "copies_of", "portal_notifications", "record_notified"]

"""Each gateway node's heartbeat: every ``gateway.health_interval_seconds`` it probes its next hop (connect, read
the 220 greeting, QUIT) and writes what it sees of itself into the shared store (``store/nodes.py``), where the
console's dashboard reads every node's; a node that stops (killed, or cut off from the store) shows as silent.

In standalone delivery (``next_hop = "mx"``) there is no next hop: the DNS resolver is probed instead (it must
answer, and validate when DANE is on: ``SecureLookup.probe``), and the ``local_next_hop`` when there is one; the
report's next-hop fields name them (``DNS 127.0.0.1:53 (DNSSEC), local host:port``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from .. import __version__
from ..store.nodes import NodeHealth, report
from ..store.tables import utcnow
from . import status
from .mxlookup import SecureLookup
from .settings import GatewaySettings

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("mailseal.gateway")

#: How long a probe of the next hop may take in all (connect and greeting).
PROBE_TIMEOUT = 10.0


async def probe_next_hop(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """(reachable, what it said): reachable when it greets with 220 within ``timeout``; the detail is the greeting
    or why not, one line."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return False, status.one_line(f"cannot connect: {exc.strerror or exc}" if isinstance(exc, OSError)
                                      else "cannot connect: timed out", 200)
    try:
        greeting = await asyncio.wait_for(reader.readline(), timeout)
        with contextlib.suppress(OSError):
            writer.write(b"QUIT\r\n")
            await asyncio.wait_for(writer.drain(), timeout)
    except (OSError, TimeoutError):
        return False, "connected, but no greeting"
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), timeout)
    text = greeting.decode("ascii", "replace").strip()
    return text.startswith("220"), status.one_line(text or "closed without a greeting", 200)


async def probe_standalone(settings: GatewaySettings) -> tuple[str, bool, str]:
    """(what was probed, all well, what each said) for standalone delivery: the resolver, then the local next
    hop when there is one."""
    lookup = SecureLookup(settings.dns)
    problem = await asyncio.to_thread(lookup.probe)
    names = [f"DNS {lookup.resolver_name()}" + (" (DNSSEC)" if settings.dns.dane else "")]
    ok = problem is None
    if problem is not None:
        said = [problem]
    else:
        said = [f"resolver validates (AD on {settings.dns.probe_zone} DNSKEY)" if settings.dns.dane
                else "resolver answers"]
    if settings.local_next_hop is not None:
        host, port = settings.local_next_hop
        local_ok, detail = await probe_next_hop(host, port)
        names.append(f"local {host}:{port}")
        ok = ok and local_ok
        said.append(f"local: {detail}")
    return ", ".join(names), ok, status.one_line("; ".join(said), 300)


class Heartbeat:
    """The node's reports: ``beat()`` once, ``run()`` forever (a task the serving process owns and cancels)."""

    def __init__(self, gateway: Gateway, started: datetime | None = None) -> None:
        self.gateway = gateway
        self.started = started or utcnow()
        self._failing = False
        self._hop_problem: str | None = None

    async def health(self) -> NodeHealth:
        settings = self.gateway.settings
        hop = settings.next_hop
        ok: bool | None = None
        detail: str | None = None
        probed: str | None = None
        if hop is not None:
            ok, detail = await probe_next_hop(*hop)
            probed = f"{hop[0]}:{hop[1]}"
        elif settings.standalone:
            probed, ok, detail = await probe_standalone(settings)
        self._say(probed, ok, detail)
        host, _ = settings.listen
        # The node's figures: with several front-end processes, the sum over all of them (gateway/metrics.py).
        samples = self.gateway.metrics.node_samples()

        def value(name: str, **labels: str) -> int:
            return int(samples.get((name, frozenset(labels.items())), 0))

        def messages(result: str) -> int:
            return value("mailseal_message_results_total", result=result)

        return NodeHealth(
            name=settings.node_name, version=__version__, listen=f"{host}:{self.gateway.port}",
            started=self.started, last_seen=utcnow(), interval_seconds=int(settings.health_interval_seconds),
            next_hop=probed, next_hop_ok=ok, next_hop_detail=detail,
            connections=value("mailseal_connections"), in_flight=value("mailseal_messages_in_flight"),
            waiting=value("mailseal_worker_queue"), accepted=messages("accepted"), refused=messages("refused"),
            deferred=messages("deferred"))

    def _say(self, probed: str | None, ok: bool | None, detail: str | None) -> None:
        """Log a problem of the next hop (or resolver) once when it appears and once when it is gone."""
        problem = None if ok is not False else f"{probed}: {detail}"
        if problem is not None and problem != self._hop_problem:
            log.warning("health: %s", problem)
        elif problem is None and self._hop_problem is not None:
            log.info("health: %s is well again", probed)
        self._hop_problem = problem

    async def beat(self) -> NodeHealth:
        """Probe, then write the report (in a thread: the store is synchronous)."""
        health = await self.health()
        await asyncio.to_thread(report, self.gateway.resources.store, health)
        return health

    async def run(self) -> None:
        """Beat every interval (the setting read at each beat, so a reload changes it); a store that cannot be
        written is said once until it can again, and never stops the gateway."""
        while self.gateway.settings.health_interval_seconds > 0:
            try:
                await self.beat()
                if self._failing:
                    log.info("health: reporting to the store again")
                self._failing = False
            except Exception as exc:  # the store may be away: mail goes on, the next beat tries again
                if not self._failing:
                    log.warning("health: could not report to the store (%s)", status.one_line(str(exc), 200))
                self._failing = True
            await asyncio.sleep(self.gateway.settings.health_interval_seconds)


__all__ = ["PROBE_TIMEOUT", "Heartbeat", "probe_next_hop", "probe_standalone"]

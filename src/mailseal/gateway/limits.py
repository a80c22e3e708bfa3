"""Connection limits of the SMTP service: a global and a per-client count, and the idle timeouts that tighten
when the slots run out (Postfix's ``smtpd_client_connection_count_limit`` and ``smtpd_timeout`` under stress).

One client address may hold at most ``per_client`` of the ``limit`` slots, so a single host cannot lock every
other client out; clients in ``exempt`` (by default the trusted networks: the MTA in front of the gateway, which
limits its own concurrency) are counted only against the global limit. Once ``STRESS_FRACTION`` of the slots are
taken the service is "under stress" and every idle timeout becomes the short stress timeout.

With several front-end processes the gate counts against the node's shared counts (``nodecounts.py``) once
``share()`` gave it them: both limits, and stress, are then the node's.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import status
from .settings import Network

if TYPE_CHECKING:
    from .nodecounts import NodeCounts

STRESS_FRACTION = 0.8  # Postfix's anvil starts "stress" mode when the process limit is nearly reached


def client_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.removeprefix("IPV6:").removeprefix("ipv6:"))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    # Asked twice or more per message on the event loop, mostly for the same few clients (the MTA in front):
    # parsing the address each time was 3 % of the loop's busy time in a profile. The cache is bounded.
    ip = client_ip(address)
    return ip is not None and any(ip in net for net in networks)


class ConnectionGate:
    """Counts open connections, in all and per client address, against the limits (and reports the total to
    ``observe``)."""

    def __init__(self, limit: int, spool_dir: Path, observe: Callable[[int], None] = lambda n: None, *,
                 per_client: int | None = None, exempt: tuple[Network, ...] = ()) -> None:
        self.limit = limit
        self.per_client = per_client if per_client is not None else limit
        self.exempt = exempt
        self.active = 0
        self.by_client: dict[str, int] = {}
        self.spool_dir = spool_dir
        self._observe = observe
        self.node: NodeCounts | None = None

    def share(self, node: NodeCounts) -> None:
        """Count against the node's front-ends together (before the first connection)."""
        self.node = node

    def enter(self, client: str = "") -> str | None:
        """Take a slot for ``client``: None when admitted, else the refusal (an SMTP 421 reply)."""
        node = self.node
        if (node.total() if node is not None else self.active) >= self.limit:
            return status.TOO_MANY_CONNECTIONS
        held = self.by_client.get(client, 0)
        exempt = in_networks(client, self.exempt)
        bucket = None if node is None or exempt else node.bucket(client)
        if not exempt and (held if node is None or bucket is None else node.of_client(bucket)) >= self.per_client:
            return status.TOO_MANY_FROM_CLIENT
        self.active += 1
        self.by_client[client] = held + 1
        if node is not None:
            node.add(bucket, 1)
        self._observe(self.active)
        return None

    def leave(self, client: str = "") -> None:
        if self.node is not None and client in self.by_client:
            self.node.add(None if in_networks(client, self.exempt) else self.node.bucket(client), -1)
        self.active = max(0, self.active - 1)
        held = self.by_client.get(client, 0) - 1
        if held > 0:
            self.by_client[client] = held
        else:
            self.by_client.pop(client, None)
        self._observe(self.active)

    @property
    def stressed(self) -> bool:
        active = self.node.total() if self.node is not None else self.active
        return active >= max(1, int(self.limit * STRESS_FRACTION))


class Timeouts:
    """How long the service waits for a client's next command or data block.

    ``greeting``: outside a transaction (before the first MAIL, between messages): a client that has sent nothing
    useful yet gets little time. ``transaction``: between commands of a transaction and between blocks of DATA.
    ``stress``: any wait while the connection slots are nearly all taken.
    """

    def __init__(self, *, greeting: float, transaction: float, stress: float) -> None:
        self.greeting = greeting
        self.transaction = transaction
        self.stress = stress

    def for_wait(self, *, in_transaction: bool, stressed: bool) -> float:
        normal = self.transaction if in_transaction else self.greeting
        return min(normal, self.stress) if stressed else normal


__all__ = ["STRESS_FRACTION", "ConnectionGate", "Timeouts", "client_ip", "in_networks"]

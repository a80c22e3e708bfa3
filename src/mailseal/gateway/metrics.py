"""Prometheus metrics of one gateway (its own registry, so several gateways can run in one process), and of a node
of several front-end processes (``gateway.processes``): prometheus_client's multiprocess mode, one folder of
memory-mapped value files per node that ``/metrics`` and the heartbeat sum over the front-ends."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

if TYPE_CHECKING:
    from ..store.database import Store
    from .expirymetrics import ExpiryCollector
    from .health import Endpoint, Readiness

#: prometheus_client's variable naming the folder of the value files (set in each front-end, for its children).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The node's folder of value files is made under the spool with this prefix; its supervisor holds a lock on
#: ``LOCK_NAME`` in it while it runs, so a folder left by a supervisor that was killed is known and removed.
FOLDER_PREFIX = "metrics-"
LOCK_NAME = "supervisor.lock"

#: The folder this process's metric values go to, once share() made it a front-end of several.
_shared: Path | None = None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: What /metrics and the heartbeat read: this registry with one process, the node's sum over every
        #: front-end with several (the registry itself then holds this process's share only).
        self.node_registry = self.registry
        if _shared is not None:
            self.node_registry = CollectorRegistry()
            MultiProcessCollector(self.node_registry, path=str(_shared))  # type: ignore[no-untyped-call]
        self.messages = Counter("mailseal_messages", "Messages by result (accepted, refused, deferred) and action.",
                                ["result", "action"], registry=self.registry)
        self.results = Counter("mailseal_message_results", "Messages by result (accepted, refused, deferred): one "
                               "count per message, where mailseal_messages counts one per action.", ["result"],
                               registry=self.registry)
        self.copies = Counter("mailseal_copies", "Copies delivered to the next hop.", registry=self.registry)
        self.latency = Histogram("mailseal_message_seconds", "Time from end of DATA to the reply.",
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        # Gauges of several front-ends add up over the live ones ("livesum"): a front-end that died takes its
        # connections with it (the supervisor removes its gauge file).
        self.connections = Gauge("mailseal_connections", "Open SMTP connections.", registry=self.registry,
                                 multiprocess_mode="livesum")
        self.in_flight = Gauge("mailseal_messages_in_flight", "Messages being processed or relayed.",
                               registry=self.registry, multiprocess_mode="livesum")
        self.abuse = Counter("mailseal_smtp_abuse", "Connections refused or closed and commands refused or slowed "
                             "by the abuse limits, by event (connection-refused, timeout, no-progress, "
                             "data-refused, auth-failed, auth-slowed-address, auth-slowed-account, "
                             "auth-refused-address, tls-failed, encrypted-burst).", ["event"], registry=self.registry)
        self.queue = Gauge("mailseal_worker_queue", "Messages waiting for a worker thread.", registry=self.registry,
                           multiprocess_mode="livesum")

    def serve(self, host: str, port: int, readiness: Readiness | None = None) -> Endpoint:
        """Expose /metrics (the node's), and the probes /healthz and /readyz, over HTTP on host:port (daemon
        threads)."""
        from .health import serve

        return serve(host, port, self.node_registry, readiness)

    def watch_expiry(self, store: Store | None) -> ExpiryCollector:
        """Export when certificates end (``mailseal_certificate_expiry_timestamp_seconds``), refreshed in the
        background; the caller stops the returned collector."""
        from .expirymetrics import ExpiryCollector

        collector = ExpiryCollector(store)
        self.node_registry.register(collector)
        collector.start()
        return collector

    def node_samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of the node at once (one read of the front-ends' files), by name and labels."""
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in self.node_registry.collect() for s in family.samples}


class SharedFolder:
    """The folder of a node's metric values, made by the supervisor of its front-ends and removed when it stops."""

    def __init__(self, spool_dir: Path) -> None:
        spool_dir.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(spool_dir)
        self.path = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=spool_dir))  # mode 0700
        self._lock = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def process_gone(self, pid: int) -> None:
        """A front-end ended: its live gauges (connections, messages in flight) stop counting; its counters stay."""
        with contextlib.suppress(OSError):
            mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        os.close(self._lock)
        shutil.rmtree(self.path, ignore_errors=True)


def _remove_abandoned(spool_dir: Path) -> None:
    """Remove the folders whose supervisor is gone (killed before it could): their lock is free."""
    for folder in spool_dir.glob(FOLDER_PREFIX + "*"):
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # another node's supervisor on the same spool: in use
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def share(folder: Path) -> None:
    """Make this process one front-end of several: every metric made from now on keeps its value in ``folder``
    (called in the front-end, before its gateway is built). prometheus_client reads its variable once, at import,
    which happened before the fork: the value class is set here the way it would have been."""
    global _shared
    os.environ[MULTIPROC_ENV] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _shared = folder


__all__ = ["FOLDER_PREFIX", "MULTIPROC_ENV", "Metrics", "SharedFolder", "share"]

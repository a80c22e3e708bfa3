"""Prometheus metrics of one gateway (its own registry, so several gateways can run in one process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from ..store.database import Store
    from .expirymetrics import ExpiryCollector
    from .health import Endpoint, Readiness


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("mailseal_messages", "Messages by result (accepted, refused, deferred) and action.",
                                ["result", "action"], registry=self.registry)
        self.results = Counter("mailseal_message_results", "Messages by result (accepted, refused, deferred): one "
                               "count per message, where mailseal_messages counts one per action.", ["result"],
                               registry=self.registry)
        self.copies = Counter("mailseal_copies", "Copies delivered to the next hop.", registry=self.registry)
        self.latency = Histogram("mailseal_message_seconds", "Time from end of DATA to the reply.",
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.connections = Gauge("mailseal_connections", "Open SMTP connections.", registry=self.registry)
        self.in_flight = Gauge("mailseal_messages_in_flight", "Messages being processed or relayed.",
                               registry=self.registry)
        self.abuse = Counter("mailseal_smtp_abuse", "Connections refused or closed and commands refused or slowed "
                             "by the abuse limits, by event (connection-refused, timeout, no-progress, "
                             "data-refused, auth-failed, auth-slowed-address, auth-slowed-account, "
                             "auth-refused-address, tls-failed, encrypted-burst).", ["event"], registry=self.registry)
        self.queue = Gauge("mailseal_worker_queue", "Messages waiting for a worker thread.", registry=self.registry)

    def serve(self, host: str, port: int, readiness: Readiness | None = None) -> Endpoint:
        """Expose /metrics, and the probes /healthz and /readyz, over HTTP on host:port (daemon threads)."""
        from .health import serve

        return serve(host, port, self.registry, readiness)

    def watch_expiry(self, store: Store | None) -> ExpiryCollector:
        """Export when certificates end (``mailseal_certificate_expiry_timestamp_seconds``), refreshed in the
        background; the caller stops the returned collector."""
        from .expirymetrics import ExpiryCollector

        collector = ExpiryCollector(store)
        self.registry.register(collector)
        collector.start()
        return collector


__all__ = ["Metrics"]

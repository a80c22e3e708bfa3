"""The certificate expiry metric: when the CA certificate, its CRL, the identities, correspondents' certificates and
the trust anchors end, as Unix timestamps (store/expiry.py computes them).

A background thread recomputes the set every ``interval`` seconds and swaps it in whole; a scrape only reads the
last set, so it never queries the store and never sees half a refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..store.database import Store

log = logging.getLogger("mailseal.gateway")

#: Seconds between two refreshes: certificates end in days, a quarter of an hour is fresh enough.
REFRESH_SECONDS = 900.0
#: Series per kind at most (the soonest-ending ones), so that a directory of thousands of correspondents does not
#: make thousands of series.
PER_KIND = 50


class ExpiryCollector(Collector):
    def __init__(self, store: Store | None, *, per_kind: int = PER_KIND, ca_directory: Path | None = None,
                 home: Path | None = None) -> None:
        self.store = store
        self.per_kind = per_kind
        self.ca_directory = ca_directory
        self.home = home
        self._families: list[GaugeMetricFamily] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Compute the set now (in the caller's thread)."""
        from ..store.expiry import for_metrics

        items, totals = for_metrics(self.store, per_kind=self.per_kind, ca_directory=self.ca_directory,
                                    home=self.home)
        expiry = GaugeMetricFamily(
            "mailseal_certificate_expiry_timestamp_seconds",
            "When a certificate ends (notAfter; for kind crl the CA's next CRL update), as a Unix time; the "
            f"{self.per_kind} soonest of each kind, superseded certificates left out.",
            labels=["kind", "name", "serial"])
        for item in items:
            expiry.add_metric([item.kind, item.name, item.serial], item.not_after.timestamp())
        watched = GaugeMetricFamily("mailseal_certificates_watched",
                                    "Certificates (for kind directory: addresses) whose end is watched, by kind.",
                                    labels=["kind"])
        for kind, count in totals.items():
            watched.add_metric([kind], count)
        refreshed = GaugeMetricFamily("mailseal_certificate_expiry_refresh_timestamp_seconds",
                                      "When the expiry metric was last computed, as a Unix time.")
        refreshed.add_metric([], time.time())
        self._families = [expiry, watched, refreshed]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families

    def start(self, interval: float = REFRESH_SECONDS) -> None:
        """Refresh now, then every ``interval`` seconds in a daemon thread until stop()."""
        self._thread = threading.Thread(target=self._run, args=(interval,), name="mailseal-expiry", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # deliberately broad: a store that is briefly unreachable (or anything else) must
                # not end the refreshes: the thread is the metric's only source
                log.exception("could not compute the certificate expiry metric")
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


__all__ = ["PER_KIND", "REFRESH_SECONDS", "ExpiryCollector"]

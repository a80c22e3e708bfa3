"""The gateway's HTTP endpoint: /metrics, /healthz and /readyz (docs/cluster.md#health-and-readiness)."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from mailseal.gateway.health import Readiness, serve
from mailseal.store.database import Store, make_engine
from tests.gateway.conftest import StartGateway, org, sink, start_gateway  # noqa: F401  (fixtures)
from tests.support.smtp_sink import free_port


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_running_gateway_is_healthy_and_ready_and_serves_metrics(start_gateway: StartGateway) -> None:  # noqa: F811
    port = free_port()
    running = start_gateway({"gateway": {"metrics_listen": f"127.0.0.1:{port}"}})
    assert _get(port, "/healthz") == (200, "ok\n")
    assert _get(port, "/readyz") == (200, "ready\n")
    status, text = _get(port, "/metrics")
    assert status == 200 and "mailseal_connections" in text
    assert _get(port, "/other")[0] == 404
    # Stopping: the SMTP port closes first and the probe says so while the messages in progress finish.
    running.gateway.draining = True
    status, text = _get(port, "/readyz")
    assert status == 503 and "draining" in text


def test_a_store_that_does_not_answer_makes_the_node_not_ready() -> None:
    # A real PostgreSQL engine aimed at a port where nothing listens: the store's own error, not a stand-in.
    store = Store(make_engine(f"postgresql+psycopg://mailseal@127.0.0.1:{free_port()}/mailseal"))
    listening = [True]
    readiness = Readiness(lambda: listening[0], lambda: False, store.ping, cache_seconds=0, timeout=30)
    registry = CollectorRegistry()
    Counter("probe_test", "A counter.", registry=registry).inc()
    endpoint = serve("127.0.0.1", 0, registry, readiness)
    try:
        status, text = _get(endpoint.port, "/readyz")
        assert status == 503
        assert text.startswith("not ready: store unreachable: the store database did not answer")
        assert _get(endpoint.port, "/healthz") == (200, "ok\n")  # alive all the same: no restart for this
        listening[0] = False
        assert "not listening" in _get(endpoint.port, "/readyz")[1]
        assert "probe_test_total 1.0" in _get(endpoint.port, "/metrics")[1]
    finally:
        endpoint.shutdown()
        store.close()


def test_the_store_check_is_reused_for_a_while() -> None:
    calls: list[int] = []
    readiness = Readiness(lambda: True, lambda: False, lambda: calls.append(1), cache_seconds=60)
    assert readiness.problems() == [] and readiness.problems() == []
    assert len(calls) == 1


def test_readiness_runs_off_the_event_loop_of_a_stopped_gateway_without_error() -> None:
    # problems() is called from the endpoint's threads, never from the event loop: it must not need one.
    readiness = Readiness(lambda: False, lambda: True, lambda: None)
    assert asyncio.run(asyncio.to_thread(readiness.problems)) == ["draining", "not listening"]


def test_a_store_that_never_answers_is_reported_within_the_probe_timeout() -> None:
    # A database behind a cut cable: no refusal, no answer. The probe must still answer, and promptly.
    release = threading.Event()
    started: list[int] = []

    def hang() -> None:
        started.append(1)
        release.wait(60)

    readiness = Readiness(lambda: True, lambda: False, hang, timeout=0.2)
    try:
        assert readiness.problems() == ["store unreachable: no answer within 0.2 s"]
        assert readiness.problems() == ["store unreachable: no answer within 0.2 s"]
        assert len(started) == 1  # one check in flight, not one more per probe
    finally:
        release.set()

"""The gateway's HTTP endpoint beside SMTP: Prometheus ``/metrics`` and the probes of a load balancer or Kubernetes,
``/healthz`` (the process answers) and ``/readyz`` (it listens, its store answers, it is not draining; in standalone
delivery, its DNS resolver answers and, with DANE, validates).

A small threaded WSGI server (the standard library's ``wsgiref`` with one thread per request): a slow readiness
check never holds up a scrape, and ``/metrics`` is prometheus_client's own WSGI application.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from ..errors import MailsealError

log = logging.getLogger("mailseal.gateway")

#: How long one answer about the store is reused: probes every second from several balancers cost one query.
STORE_CHECK_SECONDS = 2.0
#: How long a probe waits for the store's answer before it says "not ready" (Kubernetes' default probe timeout
#: is 1 s; a load balancer's is often a few).
STORE_CHECK_TIMEOUT = 0.9
#: How long one answer about the DNS resolver is reused (standalone delivery): one query per probe period at most.
RESOLVER_CHECK_SECONDS = 10.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _CachedCheck:
    """A check run in a thread of its own at most every ``cache_seconds``, one at a time, and waited for at most
    ``timeout`` seconds: a database behind a cut cable, or a resolver gone, does not answer at all, and the probe
    must. ``check`` raises (the store) or returns a phrase (the resolver) when something is wrong."""

    def __init__(self, label: str, check: Callable[[], str | None], cache_seconds: float, timeout: float) -> None:
        self._label = label
        self._check_fn = check
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._checked_at: float | None = None
        self._running: threading.Event | None = None

    def problem(self) -> str | None:
        with self._lock:
            if self._checked_at is not None and time.monotonic() - self._checked_at < self._cache_seconds:
                return self._problem
            if self._running is None:
                self._running = threading.Event()
                threading.Thread(target=self._check, args=(self._running,), name="mailseal-readiness",
                                 daemon=True).start()
            running = self._running
        if not running.wait(self._timeout):
            return f"{self._label}: no answer within {self._timeout:g} s"
        with self._lock:
            return self._problem

    def _check(self, done: threading.Event) -> None:
        try:
            said = self._check_fn()
            problem = None if said is None else f"{self._label}: {said}"
        except MailsealError as exc:
            problem = f"{self._label}: {exc.message}"
        except Exception as exc:  # deliberately broad: a probe answers 503, it never fails
            problem = f"{self._label}: {type(exc).__name__}: {exc}"
        with self._lock:
            self._problem = problem
            self._checked_at = time.monotonic()
            self._running = None
        done.set()


class Readiness:
    """Whether a node should be given mail: what is wrong, as short phrases (none: ready).

    ``listening`` and ``draining`` are read from the gateway each time; ``check_store`` is a query the store answers
    (``Store.ping``) and ``check_resolver`` (standalone delivery) asks the DNS resolver whether it answers and
    validates (``SecureLookup.probe``: a phrase when not, None otherwise); each runs in a thread of its own at most
    every ``cache_seconds`` and is waited for at most ``timeout`` seconds."""

    def __init__(self, listening: Callable[[], bool], draining: Callable[[], bool],
                 check_store: Callable[[], None], cache_seconds: float = STORE_CHECK_SECONDS,
                 timeout: float = STORE_CHECK_TIMEOUT,
                 check_resolver: Callable[[], str | None] | None = None) -> None:
        self._listening = listening
        self._draining = draining
        self._store = _CachedCheck("store unreachable", check_store, cache_seconds, timeout)
        self._resolver = None if check_resolver is None else \
            _CachedCheck("DNS resolver", check_resolver, max(cache_seconds, RESOLVER_CHECK_SECONDS), timeout)

    def store_problem(self) -> str | None:
        return self._store.problem()

    def resolver_problem(self) -> str | None:
        return None if self._resolver is None else self._resolver.problem()

    def problems(self) -> list[str]:
        found = []
        if self._draining():
            found.append("draining")
        if not self._listening():
            found.append("not listening")
        for problem in (self.store_problem(), self.resolver_problem()):
            if problem is not None:
                found.append(problem)
        return found


def application(registry: CollectorRegistry, readiness: Readiness | None) -> WsgiApp:
    """The WSGI application of the endpoint: ``/metrics``, ``/healthz``, ``/readyz``; 404 for anything else."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            problems = readiness.problems() if readiness is not None else []
            if problems:
                return _text(start_response, "503 Service Unavailable",
                             "not ready: " + "; ".join(problems).replace("\n", " ") + "\n")
            return _text(start_response, "200 OK", "ready\n")
        return _text(start_response, "404 Not Found", "not found: /metrics, /healthz, /readyz\n")

    return app


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: probes come every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Endpoint:
    """The running endpoint (its own daemon threads); ``port`` is the one bound, ``shutdown()`` stops it."""

    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server_class = _Server6 if family == socket.AF_INET6 else _Server
        self._server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="mailseal-http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(host: str, port: int, registry: CollectorRegistry, readiness: Readiness | None = None) -> Endpoint:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on host:port in background threads."""
    return Endpoint(host, port, application(registry, readiness))


__all__ = ["RESOLVER_CHECK_SECONDS", "STORE_CHECK_SECONDS", "STORE_CHECK_TIMEOUT", "Endpoint", "Readiness", "application", "serve"]

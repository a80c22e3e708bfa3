"""The fetch guard: schemes, target addresses (every resolved one), size caps, timeouts, redirects, budget."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mailseal.pki.fetching import FetchError, FetchPolicy, check_target, http_request

LOOPBACK = FetchPolicy(allow_private=True, timeout=2.0)
DEFAULT = FetchPolicy()


def _refused(url: str, policy: FetchPolicy = DEFAULT) -> FetchError:
    with pytest.raises(FetchError) as info:
        check_target(url, policy)
    assert info.value.refused
    return info.value


@pytest.mark.parametrize("url", ["ftp://example.org/ca.crl", "file:///etc/passwd", "ldap://example.org/cn=ca",
                                 "gopher://example.org/"])
def test_only_http_and_https_are_fetched(url: str) -> None:
    assert _refused(url).reason == "scheme"


def test_url_without_host_is_refused() -> None:
    assert _refused("http:///ca.crl").reason == "no-host"


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                                  "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
                                  "[::1]", "[fe80::1]", "[fd00::1]", "[::ffff:10.0.0.1]", "[ff02::1]", "[::]"])
def test_non_public_addresses_are_refused(host: str) -> None:
    assert _refused(f"http://{host}/ca.crl").reason == "private-address"


def test_public_address_passes_the_guard_without_connecting() -> None:
    assert check_target("http://93.184.216.34:8080/x.crl", FetchPolicy())[3] == ["93.184.216.34"]


def test_every_resolved_address_is_checked() -> None:
    policy = FetchPolicy(resolver=lambda host, port: ["93.184.216.34", "192.168.0.10"])
    assert _refused("http://crl.example.org/ca.crl", policy).reason == "private-address"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror("no such host")

    assert _refused("http://nowhere.invalid/", FetchPolicy(resolver=fail)).reason == "unresolvable"


def test_allow_private_permits_loopback() -> None:
    assert check_target("http://127.0.0.1:8/x", FetchPolicy(allow_private=True))[3] == ["127.0.0.1"]


def test_allowed_networks_permit_only_their_addresses() -> None:
    policy = FetchPolicy(allowed_networks=("10.20.0.0/16",))
    assert check_target("http://10.20.1.2/x", policy)[3] == ["10.20.1.2"]
    assert _refused("http://10.21.1.2/x", policy).reason == "private-address"


def test_policy_refuses_a_malformed_network_at_construction() -> None:
    with pytest.raises(ValueError):
        FetchPolicy(allowed_networks=("10.0.0.0/33",))


Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handle: Handler) -> str:
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                handle(self)

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> Handler:
    def handle(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def test_fetch_returns_body_and_content_type(serve: Callable[[Handler], str]) -> None:
    base = serve(_reply(200, b"0\x00", {"Content-Type": "application/pkix-crl"}))
    got = http_request(base + "/ca.crl", LOOPBACK)
    assert (got.status, got.content_type, got.body) == (200, "application/pkix-crl", b"0\x00")


def test_response_larger_than_the_cap_is_refused(serve: Callable[[Handler], str]) -> None:
    base = serve(_reply(200, b"x" * 5000))
    with pytest.raises(FetchError) as info:
        http_request(base + "/big", FetchPolicy(allow_private=True, max_bytes=1000))
    assert info.value.reason == "too-large" and not info.value.refused


def test_response_without_length_is_capped_while_reading(serve: Callable[[Handler], str]) -> None:
    def stream(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        for _ in range(10):
            h.wfile.write(b"y" * 1000)

    base = serve(stream)
    with pytest.raises(FetchError) as info:
        http_request(base + "/stream", FetchPolicy(allow_private=True, max_bytes=3000))
    assert info.value.reason == "too-large"


def test_slow_server_times_out(serve: Callable[[Handler], str]) -> None:
    def slow(h: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(1.5)
        _reply(200, b"late")(h)

    base = serve(slow)
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        http_request(base + "/slow", FetchPolicy(allow_private=True, timeout=0.3))
    assert info.value.reason == "timeout"
    assert time.monotonic() - start < 1.4


def test_http_error_status_fails(serve: Callable[[Handler], str]) -> None:
    base = serve(_reply(404, b"missing"))
    with pytest.raises(FetchError) as info:
        http_request(base + "/nothing", LOOPBACK)
    assert info.value.reason == "http-status"


def test_redirect_is_followed_and_checked_again(serve: Callable[[Handler], str]) -> None:
    target = serve(_reply(200, b"moved here"))
    base = serve(_reply(302, b"", {"Location": target + "/new"}))
    assert http_request(base + "/old", LOOPBACK).body == b"moved here"
    only_first = FetchPolicy(allowed_networks=("127.0.0.1/32",), resolver=lambda h, p: ["10.0.0.7"])
    redirector = serve(_reply(302, b"", {"Location": "http://internal.example/secret"}))
    with pytest.raises(FetchError) as info:
        http_request(redirector + "/old", only_first)
    assert info.value.refused and info.value.reason == "private-address"


def test_redirect_loop_stops(serve: Callable[[Handler], str]) -> None:
    def loop(h: http.server.BaseHTTPRequestHandler) -> None:
        _reply(302, b"", {"Location": "/again"})(h)

    base = serve(loop)
    with pytest.raises(FetchError) as info:
        http_request(base + "/start", LOOPBACK)
    assert info.value.reason == "redirect"


def test_connection_refused_is_a_network_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as info:
        http_request(f"http://127.0.0.1:{port}/", LOOPBACK)
    assert info.value.reason == "network" and not info.value.refused

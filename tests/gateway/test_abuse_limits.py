"""One client must not lock out the rest: per-client connection limits, short idle timeouts outside a transaction
and under stress, a budget of commands without progress, AUTH guessing throttled per address and per account,
STARTTLS twice refused, failed handshakes logged as one line, NUL and undeclared 8-bit data in DATA."""

from __future__ import annotations

import base64
import email.policy
import logging
import smtplib
import socket
import time
from pathlib import Path

import pytest

from mailseal.gateway.throttle import AuthThrottle
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import RawClient, RunningGateway, client_tls, message, tls_files
from tests.support.smtp_sink import SmtpSink

OTHER_ADDRESS = ("127.0.0.2", 0)  # a second loopback client address


def _greeting(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection before ``seconds`` pass (reading and discarding replies)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(1024):
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return False


def _message_bytes(sender: str, to: str, subject: str = "hello") -> bytes:
    return message(sender, [to], subject).as_bytes(policy=email.policy.SMTP)


def test_one_address_cannot_take_every_slot(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"gateway": {"max_connections": 100, "max_connections_per_client": 20,
                                    "client_limit_exceptions": []}})
    hogs = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(100)]
    try:
        greetings = [_greeting(s)[:3] for s in hogs]
        assert greetings.count(b"220") == 20
        assert greetings.count(b"421") == 80
        for i in range(5):
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=20, source_address=OTHER_ADDRESS) as client:
                client.sendmail("carol@partner.example", ["alice@example.org"],
                                _message_bytes("carol@partner.example", "alice@example.org", f"m{i}"))
        assert len(sink.wait_for(5)) == 5
    finally:
        for s in hogs:
            s.close()


def test_trusted_clients_are_exempt_from_the_per_client_limit(start_gateway: StartGateway) -> None:
    gw = start_gateway({"gateway": {"max_connections_per_client": 2}})  # 127.0.0.0/8 is trusted by default
    clients = [RawClient(gw.port) for _ in range(4)]  # RawClient asserts a greeting; a 421 fails it
    for c in clients:
        assert c.command("NOOP")[0] == 250
        c.close()


def test_idle_connection_before_any_command_is_closed(start_gateway: StartGateway) -> None:
    gw = start_gateway({"gateway": {"greeting_timeout_seconds": 1, "timeout_seconds": 30}})
    idle = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    assert _greeting(idle).startswith(b"220")
    assert _closed_within(idle, 10)
    idle.close()
    # inside a transaction the longer timeout applies
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250
    assert client.command("MAIL FROM:<carol@partner.example>")[0] == 250
    time.sleep(2.5)
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    client.close()


def test_timeouts_shorten_under_stress(start_gateway: StartGateway) -> None:
    # 5 slots: from the 4th connection on (80 %) every wait is the stress timeout
    gw = start_gateway({"gateway": {"max_connections": 5, "greeting_timeout_seconds": 60,
                                    "stress_timeout_seconds": 1}})
    calm = RawClient(gw.port)
    others = [RawClient(gw.port) for _ in range(3)]
    assert _closed_within(others[-1].sock, 10)  # opened under stress
    assert calm.command("NOOP")[0] == 250  # 3 open again: no stress, the 60 s greeting timeout
    assert not _closed_within(calm.sock, 2)
    fourth = RawClient(gw.port)  # stress again...
    assert calm.command("NOOP")[0] == 250  # ...so this wait is the stress timeout
    assert _closed_within(calm.sock, 10)
    for c in [calm, fourth, *others]:
        c.close()


def test_commands_without_progress_have_a_budget(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"gateway": {"max_no_progress_commands": 10}})
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250  # EHLO counts: 1
    for _ in range(8):
        assert client.command("NOOP")[0] == 250
    # a message renews the budget
    assert client.command("MAIL FROM:<carol@partner.example>")[0] == 250
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(_message_bytes("carol@partner.example", "alice@example.org") + b".\r\n")
    assert client.reply()[0] == 250
    for _ in range(9):
        assert client.command("RSET")[0] == 250
    assert client.command("VRFY someone")[0] in (252, 502)  # the 10th
    code, text = client.command("NOOP")
    assert code == 421 and "without progress" in text
    assert _closed_within(client.sock, 5)
    client.close()
    # refused commands count too
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250
    codes = [client.command("MAIL FROM:<@route:x@y.example>")[0] for _ in range(10)]
    assert codes[:9] == [553] * 9 and codes[9] == 421
    client.close()


def _auth_gateway(start_gateway: StartGateway, tmp_path: Path, **auth: object) -> RunningGateway:
    from mailseal.store.users import Users

    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"trusted_networks": [], "tls": {"certificate": str(cert), "key": str(key)},
                                    "auth": {"enabled": True, **auth}}})
    Users(gw.store, scrypt={"n": 2**10, "r": 8, "p": 1}).add("alice", b"correct horse battery",
                                                             ["alice@example.org"])
    return gw


def _tls_client(gw: RunningGateway, source: tuple[str, int] | None = None) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", gw.port, timeout=30, source_address=source)
    client.starttls(context=client_tls())
    client.ehlo()
    return client


def _auth(client: smtplib.SMTP, password: bytes) -> int:
    return int(client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0" + password).decode())[0])


def test_password_guessing_is_throttled_per_address_not_locked_per_account(start_gateway: StartGateway,
                                                                           tmp_path: Path) -> None:
    gw = _auth_gateway(start_gateway, tmp_path, failures_per_address=10, failures_per_account=5,
                       max_delay_seconds=0.3)
    codes: list[int] = []
    while len(codes) < 50:
        client = _tls_client(gw)
        try:
            for _ in range(3):
                code = _auth(client, b"guess %d" % len(codes))
                codes.append(code)
                if code != 535:
                    break
        except smtplib.SMTPServerDisconnected:
            pass
        finally:
            client.close()
    # ten passwords checked and refused (535; the third on a connection closes it with 421)...
    assert set(codes[:10]) == {535, 421}
    # ...beyond the threshold the address is refused with 4xx, without a check
    assert codes[10:] == [454] * 40
    # the right password from this address is refused too (nothing is checked)...
    with _tls_client(gw) as client:
        assert _auth(client, b"correct horse battery") == 454
    # ...but the same account from another address still logs in (slowed at most max_delay_seconds)
    with _tls_client(gw, OTHER_ADDRESS) as client:
        assert _auth(client, b"correct horse battery") == 235
    metrics = gw.gateway.metrics.registry.get_sample_value
    assert metrics("mailseal_smtp_abuse_total", {"event": "auth-failed"}) >= 10
    assert metrics("mailseal_smtp_abuse_total", {"event": "auth-refused-address"}) >= 30
    assert metrics("mailseal_smtp_abuse_total", {"event": "auth-slowed-account"}) >= 1


def test_throttle_backs_off_and_forgets() -> None:
    now = [0.0]
    throttle = AuthThrottle(per_address=10, per_account=5, window=100, max_delay=8, clock=lambda: now[0])
    assert throttle.delay("192.0.2.1", "alice") == (0.0, None)
    for _ in range(3):
        throttle.failed("192.0.2.1", "alice")
    first, scope = throttle.delay("192.0.2.1", "alice")
    assert first > 0 and scope == "address"
    throttle.failed("192.0.2.1", "alice")
    assert throttle.delay("192.0.2.1", "alice")[0] == 2 * first
    for _ in range(20):
        throttle.failed("192.0.2.1", "alice")
    assert throttle.delay("192.0.2.1", "alice")[0] == 8  # capped
    assert throttle.refused("192.0.2.1") and not throttle.refused("192.0.2.2")
    assert throttle.delay("192.0.2.2", "alice") == (8, "account")  # slowed from elsewhere, never refused
    throttle.succeeded("alice")
    assert throttle.delay("192.0.2.2", "alice") == (0.0, None)
    now[0] = 101  # the window has passed
    assert not throttle.refused("192.0.2.1")
    assert throttle.delay("192.0.2.1", "bob") == (0.0, None)


def test_second_starttls_is_refused(start_gateway: StartGateway, tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"tls": {"certificate": str(cert), "key": str(key)}}})
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:
        client.starttls(context=client_tls())
        client.ehlo()
        assert not client.has_extn("starttls")
        assert client.docmd("STARTTLS")[0] == 503
        assert client.noop()[0] == 250  # the TLS session goes on


def test_junk_tls_handshakes_log_one_line_each_and_are_rate_limited(
        start_gateway: StartGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"tls": {"certificate": str(cert), "key": str(key)}}})
    caplog.set_level(logging.INFO)
    for i in range(25):
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        _greeting(sock)
        sock.sendall(b"EHLO junk.example\r\n")
        time.sleep(0.02)
        sock.recv(4096)
        sock.sendall(b"STARTTLS\r\n")
        assert sock.recv(1024).startswith(b"220")
        sock.sendall(b"\x16\x03\x01\x00\x10" + bytes([i]) * 16 + b"not a client hello at all\r\n")
        _closed_within(sock, 5)
        sock.close()
    time.sleep(0.5)
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:  # still serving
        assert client.noop()[0] == 250
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    tls_lines = [r for r in records if "TLS" in r.getMessage()]
    assert 1 <= len(tls_lines) <= 10  # one line a handshake, at most 10 a minute per kind
    assert all("\n" not in r.getMessage() for r in tls_lines)
    assert gw.gateway.metrics.registry.get_sample_value("mailseal_smtp_abuse_total", {"event": "tls-failed"}) >= 25


def _data(gw: RunningGateway, body: bytes, options: str = "") -> tuple[int, str]:
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250
    assert client.command("MAIL FROM:<carol@partner.example>" + options)[0] == 250
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("DATA")[0] == 354
    head = b"From: carol@partner.example\r\nTo: alice@example.org\r\nSubject: bytes\r\n\r\n"
    client.send(head + body + b"\r\n.\r\n")
    reply = client.reply()
    client.close()
    return reply


def test_nul_in_data_is_refused(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway()
    code, text = _data(gw, b"a NUL\x00 in the text")
    assert code == 554 and "NUL" in text
    assert sink.messages == []


def test_8bit_data_is_relayed_declared(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"policy": {"verify_inbound": False, "decrypt_inbound": False}})
    body = "Grüße aus Köln".encode()
    assert _data(gw, body)[0] == 250  # undeclared 8-bit: taken, as Postfix does by default
    assert _data(gw, body + b" (declared)", " BODY=8BITMIME")[0] == 250
    got = sink.wait_for(2)
    assert all(body in m.data and "BODY=8BITMIME" in m.mail_options for m in got)


def test_strict_8bitmime_refuses_undeclared_8bit(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"gateway": {"strict_8bitmime": True}})
    code, text = _data(gw, "Grüße".encode())
    assert code == 554 and "8BITMIME" in text
    assert _data(gw, "Grüße".encode(), " BODY=8BITMIME")[0] == 250
    assert len(sink.wait_for(1)) == 1


def test_long_lines_at_the_limit_pass_and_over_it_are_refused(start_gateway: StartGateway,
                                                              sink: SmtpSink) -> None:
    gw = start_gateway()
    assert _data(gw, b"\r\n".join([b"y" * 998] * 300))[0] == 250
    code, _ = _data(gw, b"\r\n".join([b"y" * 998] * 100 + [b"z" * 1100] + [b"y" * 998] * 100))
    assert code == 500
    assert len(sink.wait_for(1)) == 1

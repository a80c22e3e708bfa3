"""The SMTP service under abuse: open-relay tricks, SMTP smuggling, STARTTLS (required, pipelining), limits."""

from __future__ import annotations

import base64
import email.policy
import smtplib
import socket
import ssl
from pathlib import Path

import pytest

from tests.gateway.conftest import StartGateway
from tests.gateway.harness import RawClient, RunningGateway, client_tls, message, tls_files
from tests.support.smtp_sink import SmtpSink

UNTRUSTED = {"gateway": {"trusted_networks": []}}


def _session(port: int) -> RawClient:
    client = RawClient(port)
    assert client.command("EHLO client.example")[0] == 250
    assert client.command("MAIL FROM:<mallory@evil.example>")[0] == 250
    return client


@pytest.mark.parametrize("rcpt", [
    "<victim@elsewhere.example>",                      # plain relay
    "<victim%elsewhere.example@example.org>",          # %-hack
    "<@example.org:victim@elsewhere.example>",         # source route
    "<@example.org,@relay.example:victim@elsewhere.example>",
    '<"victim@elsewhere.example"@example.org>',        # quoted local part
    "<elsewhere.example!victim@example.org>",          # bang path
    "<victim@elsewhere.example@example.org>",
    "<victim@example.org.elsewhere.example>",          # look-alike domain
])
def test_open_relay_attempts_refused(start_gateway: StartGateway, sink: SmtpSink, rcpt: str) -> None:
    gw = start_gateway(UNTRUSTED)
    client = _session(gw.port)
    code, text = client.command(f"RCPT TO:{rcpt}")
    assert 500 <= code < 600, text
    code, _ = client.command("DATA")
    assert code == 503  # no recipient was accepted
    client.close()
    assert sink.messages == []


def test_source_routed_sender_refused(start_gateway: StartGateway) -> None:
    gw = start_gateway(UNTRUSTED)
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250
    assert client.command("MAIL FROM:<@relay.example:mallory@evil.example>")[0] == 553
    client.close()


def test_accepted_domain_from_untrusted_client_is_taken(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway(UNTRUSTED)
    client = _session(gw.port)
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("RCPT TO:<alice@EXAMPLE.ORG>")[0] == 250
    client.close()


def test_trusted_network_may_relay(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway()  # 127.0.0.0/8 trusted by default
    gw.send(message("alice@example.org", ["someone@elsewhere.example"]), "alice@example.org",
            ["someone@elsewhere.example"])
    assert [m.rcpt_tos for m in sink.wait_for(1)] == [["someone@elsewhere.example"]]


@pytest.mark.parametrize("payload", [
    b"Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<x@evil.example>\r\n",          # LF.LF smuggling
    b"Subject: a\r\n\r\nfirst\r\n.\nRCPT TO:<x@example.org>\r\n",           # CRLF.LF
    b"Subject: a\r\n\r\nfirst\n.\r\nDATA\r\n",                              # LF.CRLF
    b"Subject: a\r\n\r\nfirst\r.\rQUIT\r\n",                                # CR.CR
    b"Subject: a\r\n\r\nbare LF line\nend\r\n",
    b"Subject: a\r\n\r\nbare CR\rend\r\n",
])
def test_bare_line_ends_and_smuggling_refused(start_gateway: StartGateway, sink: SmtpSink, payload: bytes) -> None:
    gw = start_gateway(UNTRUSTED)
    client = _session(gw.port)
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(payload + b".\r\n")
    code, text = client.reply()
    assert code == 550 and "bare CR or LF" in text
    # the connection is in a clean state: nothing smuggled was executed, a new transaction works
    assert client.command("RSET")[0] == 250
    client.close()
    assert sink.messages == []


def test_starttls_required(start_gateway: StartGateway, sink: SmtpSink, tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"tls": {"certificate": str(cert), "key": str(key), "require_starttls": True}}})
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as plain:
        plain.ehlo()
        assert plain.has_extn("starttls")
        code, _ = plain.mail("alice@example.org")
        assert code == 530  # must issue STARTTLS first
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:
        client.starttls(context=client_tls())
        client.sendmail("alice@example.org", ["bob@example.org"],
                        message("alice@example.org", ["bob@example.org"]).as_bytes(policy=__import__(
                            "email.policy").policy.SMTP))
    assert len(sink.wait_for(1)) == 1


def test_commands_pipelined_before_starttls_are_discarded(start_gateway: StartGateway, sink: SmtpSink,
                                                          tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"tls": {"certificate": str(cert), "key": str(key)}}})
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    sock.recv(1024)
    sock.sendall(b"EHLO client.example\r\n")
    reply = b""
    while not reply.endswith(b"\r\n") or b"250 " not in reply:
        reply += sock.recv(4096)
    # STARTTLS and an injected command in one packet (CVE-2011-0411 style)
    sock.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
    assert sock.recv(1024).startswith(b"220")
    tls = client_tls().wrap_socket(sock, server_hostname="gw.example.org")
    tls.sendall(b"EHLO client.example\r\n")
    data = b""
    while b"250 " not in data:
        data += tls.recv(4096)
    # had the injected MAIL FROM run, this second MAIL would get "503 nested MAIL command"
    tls.sendall(b"MAIL FROM:<alice@example.org>\r\n")
    assert tls.recv(1024).startswith(b"250"), "the pipelined command survived STARTTLS"
    tls.close()


def test_oversized_message_refused_552(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway({"gateway": {"max_message_size": 4096}})
    big = message("alice@example.org", ["bob@example.org"], body="x" * 70 + "\n" * 1 + ("y" * 70 + "\n") * 100)
    with pytest.raises(smtplib.SMTPException) as info:
        gw.send(big, "alice@example.org", ["bob@example.org"])
    assert "552" in str(info.value)
    assert sink.messages == []


def test_connection_limit(start_gateway: StartGateway) -> None:
    gw = start_gateway({"gateway": {"max_connections": 2}})
    first, second = RawClient(gw.port), RawClient(gw.port)
    third = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    assert third.recv(1024).startswith(b"421")
    third.close()
    first.close()
    second.close()


def test_xforward_only_from_trusted_clients(start_gateway: StartGateway) -> None:
    gw = start_gateway(UNTRUSTED)
    client = RawClient(gw.port)
    _code, text = client.command("EHLO client.example")
    assert "XFORWARD" not in text
    assert client.command("XFORWARD ADDR=10.0.0.1")[0] == 550
    client.close()


class _TlsSink:
    """A next hop offering STARTTLS that records, per message, whether it arrived encrypted."""

    def __init__(self, tmp: Path, offer_tls: bool) -> None:
        from aiosmtpd.controller import Controller

        from tests.support.smtp_sink import free_port

        self.received: list[tuple[list[str], bool]] = []
        cert, key = tls_files(tmp)
        self.cert = cert
        ctx = None
        if offer_tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(cert), str(key))
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, tls_context=ctx,
                                     server_hostname="next-hop.example")

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.received.append((list(envelope.rcpt_tos), getattr(session, "ssl", None) is not None))  # type: ignore[attr-defined]
        return "250 OK"

    def __enter__(self) -> _TlsSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def test_outbound_tls_required_domain_never_falls_back(start_gateway: StartGateway, tmp_path: Path) -> None:
    with _TlsSink(tmp_path, offer_tls=False) as hop:
        gw = start_gateway({"gateway": {"outbound_tls": {"required_domains": ["partner.example"]}}},
                           next_hop=("127.0.0.1", hop.port))
        with pytest.raises(smtplib.SMTPDataError) as info:
            gw.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org",
                    ["dave@partner.example"])
        assert info.value.smtp_code == 451
        # other domains still go, opportunistically in plaintext when the next hop has no STARTTLS
        gw.send(message("alice@example.org", ["x@elsewhere.example"]), "alice@example.org", ["x@elsewhere.example"])
        assert hop.received == [(["x@elsewhere.example"], False)]


def test_outbound_tls_used_and_verified(start_gateway: StartGateway, tmp_path: Path) -> None:
    with _TlsSink(tmp_path, offer_tls=True) as hop:
        gw = start_gateway({"gateway": {"outbound_tls": {"mode": "required", "ca_file": str(hop.cert)}}},
                           next_hop=("127.0.0.1", hop.port))
        gw.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org",
                ["dave@partner.example"])
        assert hop.received == [(["dave@partner.example"], True)]
    other = tmp_path / "other"
    other.mkdir()
    with _TlsSink(other, offer_tls=True) as hop2:
        # a certificate the configured CA file does not vouch for: refused, temporarily, nothing sent
        gw2 = start_gateway({"gateway": {"outbound_tls": {"mode": "required", "ca_file": str(hop.cert)}}},
                            next_hop=("127.0.0.1", hop2.port))
        with pytest.raises(smtplib.SMTPDataError) as info:
            gw2.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org",
                     ["dave@partner.example"])
        assert info.value.smtp_code == 451
        assert hop2.received == []


def _auth_gateway(start_gateway: StartGateway, tmp_path: Path) -> RunningGateway:
    from mailseal.store.users import Users

    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"trusted_networks": [], "tls": {"certificate": str(cert), "key": str(key)},
                                    "auth": {"enabled": True}}})
    Users(gw.store, scrypt={"n": 2**10, "r": 8, "p": 1}).add("alice", b"correct horse battery", ["alice@example.org"])
    return gw


def test_authenticated_submission_relays_and_signs_only_as_itself(start_gateway: StartGateway, sink: SmtpSink,
                                                                  tmp_path: Path) -> None:
    gw = _auth_gateway(start_gateway, tmp_path)
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:
        client.ehlo()
        assert not client.has_extn("auth")  # never before STARTTLS
        client.starttls(context=client_tls())
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice", "wrong password here")
        client.login("alice", "correct horse battery")
        code, _ = client.mail("bob@example.org")
        assert code == 553  # not alice's address
        client.rset()
        data = message("alice@example.org", ["dave@partner.example"]).as_bytes(policy=email.policy.SMTP)
        client.sendmail("alice@example.org", ["dave@partner.example"], data)  # relayed: authenticated
    [got] = sink.wait_for(1)
    assert got.rcpt_tos == ["dave@partner.example"] and b"multipart/signed" in got.data


def test_unauthenticated_client_still_cannot_relay(start_gateway: StartGateway, tmp_path: Path) -> None:
    gw = _auth_gateway(start_gateway, tmp_path)
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:
        client.starttls(context=client_tls())
        client.ehlo()
        client.mail("alice@example.org")
        assert client.rcpt("dave@partner.example")[0] == 554


def test_three_failed_logins_close_the_connection(start_gateway: StartGateway, tmp_path: Path) -> None:
    gw = _auth_gateway(start_gateway, tmp_path)
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:
        client.starttls(context=client_tls())
        client.ehlo()
        for _ in range(2):
            assert client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0nope").decode())[0] == 535
        code, _ = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0nobody\0nope").decode())
        assert code == 421


def test_no_auth_offered_without_accounts(start_gateway: StartGateway, tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    gw = start_gateway({"gateway": {"tls": {"certificate": str(cert), "key": str(key)}}})
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as client:
        client.starttls(context=client_tls())
        code, text = client.ehlo()
        assert code == 250 and b"AUTH" not in text


def test_auth_without_tls_is_a_configuration_error() -> None:
    from mailseal.errors import ConfigurationError
    from mailseal.gateway.settings import GatewaySettings

    with pytest.raises(ConfigurationError, match="STARTTLS"):
        GatewaySettings.from_settings({"gateway": {"next_hop": "127.0.0.1:25", "auth": {"enabled": True}}})


def test_null_sender_is_accepted(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """Bounces (MAIL FROM:<>) must get through: refusing them would lose delivery reports."""
    gw = start_gateway(UNTRUSTED)
    client = RawClient(gw.port)
    assert client.command("EHLO mx.elsewhere.example")[0] == 250
    assert client.command("MAIL FROM:<>")[0] == 250
    assert client.command("RCPT TO:<alice@example.org>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(b"From: MAILER-DAEMON@elsewhere.example\r\nTo: alice@example.org\r\nSubject: bounce\r\n\r\nx\r\n.\r\n")
    assert client.reply()[0] == 250
    client.close()
    [got] = sink.wait_for(1)
    assert got.mail_from in ("", "<>") and got.rcpt_tos == ["alice@example.org"]


def test_data_phase_edge_cases(start_gateway: StartGateway, sink: SmtpSink) -> None:
    """Dot-stuffing, an end of data split across packets, a command pipelined after the end in the same packet,
    an empty body, and a line longer than SMTP allows."""
    import time

    gw = start_gateway(UNTRUSTED)
    client = RawClient(gw.port)
    assert client.command("EHLO client.example")[0] == 250

    def transaction(payload_parts: list[bytes], after: bytes = b"") -> tuple[int, str]:
        assert client.command("MAIL FROM:<x@elsewhere.example>")[0] == 250
        assert client.command("RCPT TO:<alice@example.org>")[0] == 250
        assert client.command("DATA")[0] == 354
        for part in payload_parts:
            client.send(part)
            time.sleep(0.02)
        client.send(after)
        return client.reply()

    code, _ = transaction([b"Subject: dots\r\n\r\n..leading dot\r\nlast line\r", b"\n.", b"\r\n"], b"NOOP\r\n")
    assert code == 250
    assert client.reply()[0] == 250  # the pipelined NOOP was answered: nothing after the end was lost
    [got] = sink.wait_for(1)
    assert got.data.endswith(b"\r\n.leading dot\r\nlast line\r\n")  # one dot unstuffed, the end not kept
    code, _ = transaction([b"Subject: empty\r\n\r\n.\r\n"])
    assert code == 250
    code, text = transaction([b"Subject: long\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\n"])
    assert code == 500 and "too long" in text
    assert len(sink.wait_for(2)) == 2
    client.close()

"""What the gateway answers for each kind of failure, decided by the error's type and code: a condition that may
pass (``temporary-failure``, a next hop that did not answer) is 4xx so the sender retries; a next hop's 5xx is
5xx. Real sockets: the gateway on 127.0.0.1, an aiosmtpd next hop, a nameserver port that answers nothing."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailseal.errors import ErrorCode, MailsealError, TemporaryError
from mailseal.gateway.relay import Copy, DeliveryError, Journal, Relay
from mailseal.gateway.settings import OutboundTls
from mailseal.store import Directory, events
from mailseal.store.lookup import LOCAL, CertificateLookup
from mailseal.store.smimea import SmimeaConfig, SmimeaSource
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import message
from tests.support.postgres import postgres_url
from tests.support.smtp_sink import SmtpSink, free_port

__all__ = ["postgres_url"]  # the session's PostgreSQL server, for the store-connection test


def _silent_udp_port() -> int:
    """A UDP port on 127.0.0.1 nobody listens on: a query there gets no answer (ICMP unreachable or a timeout)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dead_smimea(directory: Directory) -> CertificateLookup:
    source = SmimeaSource(SmimeaConfig("127.0.0.1", _silent_udp_port(), timeout=0.5))
    return CertificateLookup(directory, [LOCAL, source], store_found=False)


class _Refusing:
    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        return "554 5.7.1 not here"


@pytest.fixture
def refusing_hop() -> Iterator[tuple[str, int]]:
    port = free_port()
    controller = Controller(_Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port
    finally:
        controller.stop()


def _relay(port: int, tmp_path: Path) -> Relay:
    return Relay("127.0.0.1", port, hostname="gw.example.org", tls=OutboundTls(mode="none"), timeout=5,
                 journal=Journal(tmp_path / "journal"))


async def _deliver(relay: Relay, tmp_path: Path) -> None:
    path = tmp_path / "copy.eml"
    path.write_bytes(b"From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n")
    try:
        with path.open("rb") as f:
            await relay.deliver("a@example.org", [Copy(["b@partner.example"], f, "key-1")])
    finally:
        await relay.close()


def test_next_hop_down_is_a_temporary_delivery_error_with_its_code(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as info:
        asyncio.run(_deliver(_relay(free_port(), tmp_path), tmp_path))
    assert isinstance(info.value, MailsealError)
    assert info.value.code == ErrorCode.DELIVERY_FAILED and not info.value.permanent


def test_next_hop_5xx_is_a_permanent_delivery_error(tmp_path: Path, refusing_hop: tuple[str, int]) -> None:
    with pytest.raises(DeliveryError) as info:
        asyncio.run(_deliver(_relay(refusing_hop[1], tmp_path), tmp_path))
    assert info.value.code == ErrorCode.DELIVERY_FAILED and info.value.permanent
    assert "554" in info.value.message


def test_gateway_answers_a_next_hops_5xx_with_5xx(start_gateway: StartGateway,
                                                  refusing_hop: tuple[str, int]) -> None:
    gw = start_gateway(next_hop=refusing_hop)
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("alice@example.org", ["carol@partner.example"]), "alice@example.org",
                ["carol@partner.example"])
    assert info.value.smtp_code == 554
    gw.gateway.audit_writer.flush()
    (record,) = events(gw.store, action="gateway.message")
    assert record.detail["result"] == "refused" and record.detail["error"] == "delivery-failed"


def test_unanswered_lookup_defers_4xx_instead_of_sending_plaintext(start_gateway: StartGateway,
                                                                  sink: SmtpSink) -> None:
    """dave has no certificate in the directory and the SMIMEA nameserver does not answer: under ``encrypt =
    if-possible`` the gateway would otherwise send in the clear what the nameserver might have encrypted."""
    gw = start_gateway(lookup=_dead_smimea)
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org",
                ["dave@partner.example"])
    assert info.value.smtp_code == 451
    assert sink.messages == []
    gw.gateway.audit_writer.flush()
    (record,) = events(gw.store, action="gateway.message")
    assert record.detail["result"] == "deferred" and record.detail["error"] == "temporary-failure"
    assert "dave@partner.example" in record.detail["reason"]


def test_unanswered_lookup_under_required_encryption_is_4xx_not_a_refusal(start_gateway: StartGateway,
                                                                         sink: SmtpSink) -> None:
    gw = start_gateway({"policy": {"domains": {"partner.example": {"encrypt": "require"}}}}, lookup=_dead_smimea)
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org",
                ["dave@partner.example"])
    assert info.value.smtp_code == 451
    assert sink.messages == []


def test_a_local_certificate_needs_no_remote_answer(start_gateway: StartGateway, sink: SmtpSink) -> None:
    gw = start_gateway(lookup=_dead_smimea)
    assert gw.send(message("alice@example.org", ["carol@partner.example"]), "alice@example.org",
                   ["carol@partner.example"]) == {}
    assert len(sink.wait_for(1)) == 1


def test_temporary_error_is_a_mailseal_error_with_its_own_code() -> None:
    exc = TemporaryError("the nameserver did not answer")
    assert isinstance(exc, MailsealError) and exc.code == ErrorCode.TEMPORARY_FAILURE
    assert ErrorCode.TEMPORARY_FAILURE != ErrorCode.MALFORMED_INPUT


def test_release_the_next_hop_refuses_is_delivery_failed_and_stays_held(start_gateway: StartGateway,
                                                                        refusing_hop: tuple[str, int]) -> None:
    from mailseal.gateway.release import release

    gw = start_gateway({"policy": {"domains": {"partner.example": {"encrypt": "require",
                                                                   "on_missing_certificate": "hold"}}}},
                       next_hop=refusing_hop)
    assert gw.send(message("alice@example.org", ["dave@partner.example"]), "alice@example.org",
                   ["dave@partner.example"]) == {}  # held whole: nothing goes to the next hop yet
    [held] = gw.gateway.pipeline.held.list()
    with pytest.raises(DeliveryError) as info:
        release(gw.gateway, held.id, unencrypted=True)
    assert info.value.code == ErrorCode.DELIVERY_FAILED and info.value.permanent
    assert "the next hop did not take the message" in info.value.message
    assert [m.id for m in gw.gateway.pipeline.held.list()] == [held.id]


def test_store_connection_lost_defers_4xx_then_the_retry_goes_through(start_gateway: StartGateway, sink: SmtpSink,
                                                                       postgres_url: str) -> None:
    """PostgreSQL ends every connection of the gateway's store (a restart, a failover): the message in flight is
    answered 451 with code temporary-failure, never sent unsigned for want of a key; the sender's retry works."""
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.support.postgres import _libpq, drop_database, fresh_database

    url, name = fresh_database(postgres_url)
    try:
        gw = start_gateway(store_url=url)
        with psycopg.connect(_libpq(make_url(url)), autocommit=True) as admin:
            ended = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = %s AND pid <> pg_backend_pid()) AS t", (name,)).fetchone()
        assert ended is not None and ended[0] >= 1
        msg = message("alice@example.org", ["carol@partner.example"])
        with pytest.raises(smtplib.SMTPDataError) as info:
            gw.send(msg, "alice@example.org", ["carol@partner.example"])
        assert info.value.smtp_code == 451
        assert sink.messages == []
        assert gw.send(msg, "alice@example.org", ["carol@partner.example"]) == {}
        [got] = sink.wait_for(1)
        assert got.rcpt_tos == ["carol@partner.example"]
        gw.gateway.audit_writer.flush()
        deferred = [e.detail for e in events(gw.store, action="gateway.message") if e.detail["result"] == "deferred"]
        assert [d["error"] for d in deferred] == ["temporary-failure"]
        assert "the store database did not answer" in deferred[0]["reason"]
    finally:
        drop_database(postgres_url, name)


def test_errors_keep_their_facts_across_a_process_boundary() -> None:
    import pickle

    permanent = pickle.loads(pickle.dumps(DeliveryError("554 no", permanent=True)))
    assert isinstance(permanent, DeliveryError) and permanent.permanent and permanent.message == "554 no"
    temporary = pickle.loads(pickle.dumps(TemporaryError("the store database did not answer")))
    assert temporary.code == ErrorCode.TEMPORARY_FAILURE and temporary.message == "the store database did not answer"

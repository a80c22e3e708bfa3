"""No loss under faults: 2,000 messages over 20 connections through a relay into a faulty sink, with and without kills.

The relay under test comes from the ``relay_command`` fixture: a function ``(listen, next_hop) -> argv`` where
both arguments are ``"host:port"`` strings. The command must make the relay accept SMTP on ``listen`` (with
SO_REUSEADDR, since it is SIGKILLed and restarted on the same port), forward every message to ``next_hop``, and
keep the ``Message-ID`` header on what it forwards (the sink identifies messages by it). It is started from the
repository root with the repository and ``src/`` on PYTHONPATH, in its own process group.

Today the only target is the plain relay (:mod:`tests.support.plain_relay`). To add the gateway, add a
parameter, e.g.::

    @pytest.fixture(params=["plain-relay", "gateway"])
    def relay_command(request):
        if request.param == "gateway":
            config = write_gateway_config(request.getfixturevalue("tmp_path"), request.getfixturevalue("pki"))
            return lambda listen, next_hop: [sys.executable, "-m", "mailseal.cli.main", "serve",
                                             "--config", str(config), "--listen", listen, "--next-hop", next_hop]
        ...

and make ``load_messages`` use addresses the gateway holds keys and certificates for. A gateway that queues
(answers 250 before the next hop accepted) is handled: the tests wait up to ``DRAIN_TIMEOUT`` for every accepted
message to reach the sink before they reconcile.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.flaky_sink import Faults, FlakySink
from tests.support.load import (
    LoadResult,
    MessageFactory,
    Progress,
    Reconciliation,
    TargetProcess,
    free_port,
    reconcile,
    run_load,
    wait_for_sink,
)

pytestmark = pytest.mark.load

RelayCommand = Callable[[str, str], list[str]]

MESSAGES = 2000
CONNECTIONS = 20
SIZE = 2048  # 2 KiB keeps a run at a few seconds on 2 cores; the benchmark uses 20 KiB
FAULT_RATE = 0.05  # each of the five sink faults (so a quarter of the sink's transactions fail)
DEADLINE = 90.0  # seconds for the driver to get every message accepted
DRAIN_TIMEOUT = 30.0  # seconds for a queueing target to deliver what it accepted


def plain_relay_command(listen: str, next_hop: str) -> list[str]:
    return [sys.executable, "-m", "tests.support.plain_relay", "--listen", listen, "--next-hop", next_hop]


def gateway_home(tmp_path: Path) -> Path:
    """The `make run` demo organisation in a fresh data directory (keys, certificates, policy)."""
    home = tmp_path / "mailseal-data"
    env = {**os.environ, "MAILSEAL_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    subprocess.run([sys.executable, "-m", "mailseal.demo", "--setup-only", "--metrics-port", str(free_port()),
                    "--web-port", str(free_port()), "--portal-port", str(free_port())], env=env, check=True,
                   capture_output=True, timeout=120)
    return home


@pytest.fixture(params=["plain-relay", "gateway"])
def relay_command(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RelayCommand:
    """``(listen, next_hop) -> argv`` of the relay under test; one parameter per target (see the module docstring)."""
    if request.param == "plain-relay":
        return plain_relay_command
    if request.param == "gateway":
        home = gateway_home(request.getfixturevalue("tmp_path"))
        monkeypatch.setenv("MAILSEAL_HOME", str(home))
        monkeypatch.setenv("MAILSEAL_STORE_KEYFILE", str(home / "demo" / "store.key"))
        monkeypatch.delenv("MAILSEAL_CONFIG", raising=False)
        return lambda listen, next_hop: [sys.executable, "-m", "mailseal.cli.main", "serve", "--listen", listen,
                                         "--next-hop", next_hop, "--log-level", "warning"]
    raise AssertionError(f"unknown relay target {request.param}")


@pytest.fixture
def load_messages(relay_command: RelayCommand, request: pytest.FixtureRequest) -> MessageFactory:
    """The messages the driver sends (size, envelope sender and recipients): through the gateway from alice to
    carol, so that every message is signed and encrypted."""
    if request.node.callspec.params.get("relay_command") == "gateway":
        return MessageFactory(size=SIZE, mail_from="alice@example.org", rcpt_tos=("carol@partner.example",))
    return MessageFactory(size=SIZE)


@pytest.fixture
def flaky_sink(tmp_path: Path) -> Iterator[FlakySink]:
    with FlakySink(tmp_path / "sink.jsonl", Faults.uniform(FAULT_RATE), seed=20261128) as sink:
        yield sink


@pytest.fixture
def relay(relay_command: RelayCommand, flaky_sink: FlakySink, tmp_path: Path) -> Iterator[TargetProcess]:
    port = free_port()
    argv = relay_command(f"127.0.0.1:{port}", flaky_sink.address)
    with TargetProcess(argv, "127.0.0.1", port, log=tmp_path / "relay.log") as target:
        yield target


def drive(relay: TargetProcess, messages: MessageFactory, kills: int = 0) -> LoadResult:
    """Run the load; with ``kills``, SIGKILL and restart the relay at evenly spaced points of progress."""
    progress = Progress()

    async def main() -> LoadResult:
        load = run_load(relay.host, relay.port, count=MESSAGES, connections=CONNECTIONS, messages=messages,
                        deadline=DEADLINE, progress=progress)
        if not kills:
            return await load
        points = [MESSAGES * (k + 1) // (kills + 1) for k in range(kills)]
        result, _ = await asyncio.gather(load, relay.kill_at_progress(progress, points))
        return result

    return asyncio.run(main())


def check_no_loss(result: LoadResult, sink: FlakySink, relay: TargetProcess) -> Reconciliation:
    report = f"driver: {result.summary()}"
    assert result.accepted == MESSAGES, report
    assert not result.permanent_failures and not result.gave_up, report
    assert wait_for_sink(sink.record, result.accepted_ids, DRAIN_TIMEOUT), f"{report}\nsink never caught up"
    rec = reconcile(result, sink.record, relay.kills)
    report += f"\nsink: {rec.summary()}\nrelay kills: {len(relay.kills)}, downtimes {relay.downtimes}"
    print(report)
    assert rec.lost == (), report
    assert rec.unexplained == (), report
    assert rec.unexpected == () and rec.wrong_recipients == (), report
    assert rec.ok, report
    # The faults really happened, so the retry paths above were exercised.
    for fault in ("rcpt_451", "drop_before_data", "data_451", "drop_after_data", "recorded_then_dropped"):
        assert rec.faults[fault] > 0, report
    return rec


def test_no_loss_with_sink_refusing_and_dropping(relay: TargetProcess, flaky_sink: FlakySink,
                                                 load_messages: MessageFactory) -> None:
    result = drive(relay, load_messages)
    rec = check_no_loss(result, flaky_sink, relay)
    assert rec.explained_by_kill == ()
    # Every duplicate comes from the sink dropping a connection after it recorded the message.
    assert rec.duplicated == len(rec.explained_by_fault) > 0


def test_no_loss_with_relay_killed_and_restarted_twice(relay: TargetProcess, flaky_sink: FlakySink,
                                                       load_messages: MessageFactory) -> None:
    result = drive(relay, load_messages, kills=2)
    assert len(relay.kills) == 2
    check_no_loss(result, flaky_sink, relay)
    assert result.errors["connect failed"] + result.errors["disconnected"] > 0, result.summary()

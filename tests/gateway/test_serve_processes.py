"""`mailseal serve --processes N` (gateway.processes): front-end processes sharing one port, supervised; real
processes, real sockets on 127.0.0.1, the demo organisation's keys (every message signed and encrypted)."""

from __future__ import annotations

import contextlib
import email.policy
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mailseal.cli import frontends
from mailseal.errors import ConfigurationError
from mailseal.gateway import status
from mailseal.gateway.settings import GatewaySettings
from tests.gateway.harness import message
from tests.gateway.test_serve import _demo_setup
from tests.support.smtp_sink import SmtpSink, free_port

SENDER, RCPT = "alice@example.org", "carol@partner.example"


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} after {timeout} s: {log.read_text()[-3000:]}")


def _send(port: int, tag: str, count: int) -> list[str]:
    """``count`` messages on one connection; their Message-IDs."""
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for i in range(count):
            msg = message(SENDER, [RCPT], subject=f"{tag} {i}")
            client.sendmail(SENDER, [RCPT], msg.as_bytes(policy=email.policy.SMTP))
            ids.append(str(msg["Message-ID"]))
    return ids


def _send_many(port: int, tag: str, connections: int, each: int) -> list[str]:
    with ThreadPoolExecutor(connections) as pool:
        return [i for ids in pool.map(lambda n: _send(port, f"{tag}-{n}", each), range(connections)) for i in ids]


def _children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
            for c in (t / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_two_front_ends_share_the_port_survive_a_kill_and_stop_on_sigterm(tmp_path: Path) -> None:
    port, sink_port = free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    metrics = re.search(r'metrics_listen = "127\.0\.0\.1:(\d+)"', (home / "mailseal.toml").read_text())
    assert metrics is not None
    log = tmp_path / "serve.log"
    with SmtpSink(port=sink_port) as sink, log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--processes", "2", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=out, stderr=out)
        try:
            _wait_for(log, rf"mailseal gateway: 2 front-end processes listening on 127\.0\.0\.1:{port}", proc)
            pids = {int(i): int(p)
                    for i, p in re.findall(r"front-end (\d) \(pid (\d+)\) listening on", log.read_text())}
            assert set(pids) == {0, 1} and sorted(_children(proc.pid)) == sorted(pids.values())
            # What a node runs once runs in front-end 0 only: one console, one portal, one metrics/health listener.
            text = log.read_text()
            assert text.count("mailseal console on") == 1 and text.count("mailseal portal on") == 1
            health = urllib.request.urlopen(f"http://127.0.0.1:{metrics.group(1)}/healthz", timeout=10)
            assert health.status == 200
            sent = _send_many(port, "first", connections=12, each=2)
            # Every message is logged by the front-end that took it: both took some.
            deadline = time.monotonic() + 30  # a message's line may follow its 250 by a moment
            while len(served := re.findall(r'"event": "message".*?"frontend": (\d)', log.read_text())) < len(sent) \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(served) == len(sent) and set(served) == {"0", "1"}, served
            # SIGHUP to the supervisor: every front-end reloads.
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while log.read_text().count("settings reloaded") < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert log.read_text().count("settings reloaded") == 2 and "restart to apply" not in log.read_text()

            os.kill(pids[1], signal.SIGKILL)
            restarted = _wait_for(log, r"front-end 1 started again \(pid (\d+)\)", proc)
            new_pid = int(restarted.group(1))
            assert new_pid != pids[1] and _alive(pids[0])
            sent += _send_many(port, "during", connections=4, each=1)  # the port answers throughout
            _wait_for(log, rf"front-end 1 \(pid {new_pid}\) listening on", proc)
            sent += _send_many(port, "after", connections=8, each=1)
            copies = sink.wait_for(len(sent), timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        time.sleep(0.5)
        # Exactly once each: nothing lost, nothing delivered twice.
        received = [m.header("Message-ID")[0] for m in sink.messages]
        assert len(copies) == len(received) == len(sent) and sorted(received) == sorted(sent)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert not any(_alive(p) for p in (pids[0], new_pid))
    text = log.read_text()
    assert text.count("mailseal gateway stopping: finishing messages in progress") == 2
    assert "Traceback" not in text and "PRIVATE KEY" not in text


def test_one_process_is_the_default_and_starts_no_other(tmp_path: Path) -> None:
    """processes = 1 (the default) serves as before: the process that listens is the one started, no supervisor."""
    port, sink_port = free_port(), free_port()
    _home, env = _demo_setup(tmp_path)
    log = tmp_path / "serve.log"
    with SmtpSink(port=sink_port) as sink, log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=out, stderr=out)
        try:
            _wait_for(log, r"mailseal gateway listening on", proc)
            sent = _send(port, "one", 2)
            assert len(sink.wait_for(2)) == 2 and sorted(m.header("Message-ID")[0] for m in sink.messages) == \
                sorted(sent)
            assert _children(proc.pid) == []
            assert '"frontend"' not in log.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0


def test_a_failed_first_start_stops_every_front_end_with_its_status(tmp_path: Path) -> None:
    """A key store that cannot be unlocked fails every front-end alike: the supervisor stops with EX_CONFIG (78)
    instead of starting them again and again."""
    _home, env = _demo_setup(tmp_path)
    env["MAILSEAL_STORE_KEYFILE"] = str(tmp_path / "wrong.key")
    (tmp_path / "wrong.key").write_text("not the passphrase\n")
    done = subprocess.run([sys.executable, "-m", "mailseal.cli.main", "serve", "--processes", "2", "--listen",
                           f"127.0.0.1:{free_port()}", "--next-hop", f"127.0.0.1:{free_port()}"],
                          cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    err = done.stderr.decode()
    assert done.returncode == 78, err
    assert "while starting: stopping" in err and "Traceback" not in err


def test_a_taken_port_is_refused_before_any_front_end_starts(tmp_path: Path) -> None:
    import socket

    _home, env = _demo_setup(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "mailseal.cli.main", "serve", "--processes", "2", "--listen",
                               f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{free_port()}"],
                              cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    err = done.stderr.decode()
    assert done.returncode != 0 and f"port {port} is in use" in err and "front-end" not in err, err


@pytest.mark.parametrize("value", [0, 65, True, "2"])
def test_processes_setting_is_checked(value: object) -> None:
    hop = {"next_hop": "127.0.0.1:2526"}
    with pytest.raises(ConfigurationError, match=r"gateway\.processes must be an integer from 1 to 64"):
        GatewaySettings.from_settings({"gateway": {**hop, "processes": value}})
    assert GatewaySettings.from_settings({"gateway": {**hop, "processes": 4}}).processes == 4
    assert GatewaySettings.from_settings({"gateway": hop}).processes == 1


def test_several_front_ends_are_refused_without_reuseport(monkeypatch: pytest.MonkeyPatch) -> None:
    frontends.check_supported()  # this machine (Linux) has it
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(ConfigurationError, match="SO_REUSEPORT"):
        frontends.check_supported()


def test_sigterm_to_the_whole_service_stops_it_without_restarts(tmp_path: Path) -> None:
    """systemd stops a service by signalling every process of it at once: the front-ends may stop before the
    supervisor has handled its own SIGTERM, and must not be taken for front-ends that died."""
    _home, env = _demo_setup(tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--processes", "2", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{free_port()}"],
                                cwd=tmp_path, env=env, stdout=out, stderr=out, start_new_session=True)
        try:
            _wait_for(log, r"mailseal gateway: 2 front-end processes listening", proc)
            children = _children(proc.pid)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert len(children) == 2 and not any(_alive(p) for p in children)
    assert "starting a new one" not in text and "started again" not in text


def _node_metrics(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _holder(pids: dict[int, int], port: int, client_port: int) -> int:
    """Which front-end holds the server side of the connection from ``client_port`` (/proc/net/tcp's inodes)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[2].endswith(f":{client_port:04X}"):
            inode = fields[9]
    assert inode is not None
    for index, pid in pids.items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return index
    raise AssertionError(f"no front-end holds the connection from port {client_port}")


def _until(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_node_metrics_and_heartbeat_count_every_front_end(tmp_path: Path) -> None:
    """/metrics and the heartbeat row are the node's: the sum over both front-ends (prometheus_client's multiprocess
    mode); a killed front-end's messages still count, its connections no longer do."""
    from mailseal.store import Store
    from mailseal.store.database import SQLITE_FILE
    from mailseal.store.nodes import nodes

    port, sink_port = free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    settings.write_text(settings.read_text().replace(
        "[gateway]\n", '[gateway]\nhealth_interval_seconds = 0.5\nnode_name = "mx-two"\n', 1))
    found = re.search(r'metrics_listen = "127\.0\.0\.1:(\d+)"', settings.read_text())
    assert found is not None
    metrics_port = int(found.group(1))
    accepted = ("mailseal_message_results_total", frozenset({("result", "accepted")}))
    connections = ("mailseal_connections", frozenset())
    log = tmp_path / "serve.log"
    with SmtpSink(port=sink_port) as sink, log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--processes", "2", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=out, stderr=out)
        idle: list[smtplib.SMTP] = []
        try:
            _wait_for(log, rf"mailseal gateway: 2 front-end processes listening on 127\.0\.0\.1:{port}", proc)
            pids = {int(i): int(p)
                    for i, p in re.findall(r"front-end (\d) \(pid (\d+)\) listening on", log.read_text())}
            folders = list((home / "spool").glob("metrics-*"))
            assert len(folders) == 1 and folders[0].stat().st_mode & 0o077 == 0
            sent = _send_many(port, "count", connections=10, each=2)
            sink.wait_for(len(sent), timeout=60)
            _until(lambda: len(re.findall(r'"event": "message"', log.read_text())) == len(sent), "message lines")
            served = re.findall(r'"event": "message".*?"frontend": (\d)', log.read_text())
            assert set(served) == {"0", "1"}, served  # both took some: front-end 0 alone would count fewer
            _until(lambda: _node_metrics(metrics_port).get(accepted) == len(sent), "the node's count")
            figures = _node_metrics(metrics_port)
            assert figures[("mailseal_copies_total", frozenset())] == len(sent)
            assert figures[("mailseal_message_seconds_count", frozenset())] == len(sent)
            assert figures[("mailseal_messages_in_flight", frozenset())] == 0
            # The heartbeat row (the console's dashboard) is the node's too.
            store = Store.open(f"sqlite:///{home / SQLITE_FILE}")
            try:
                _until(lambda: [(n.name, n.accepted) for n in nodes(store)] == [("mx-two", len(sent))],
                       "a heartbeat with every front-end's messages")
            finally:
                store.close()

            # Idle connections count wherever they are; those of a killed front-end stop counting. Opened until
            # each front-end holds some (the kernel picks by a hash of the addresses).
            held: dict[int, int] = {0: 0, 1: 0}
            while min(held.values()) < 2 and len(idle) < 64:
                idle.append(smtplib.SMTP("127.0.0.1", port, timeout=30))
                held[_holder(pids, port, idle[-1].sock.getsockname()[1])] += 1
            assert min(held.values()) >= 2, held
            _until(lambda: _node_metrics(metrics_port).get(connections) == len(idle), f"{len(idle)} connections")
            os.kill(pids[1], signal.SIGKILL)
            _wait_for(log, r"front-end 1 started again", proc)
            _until(lambda: _node_metrics(metrics_port).get(connections) == held[0], f"{held[0]} connections left")
            assert _node_metrics(metrics_port)[accepted] == len(sent)  # the killed one's messages still count
        finally:
            for client in idle:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert not list((home / "spool").glob("metrics-*"))  # removed by the supervisor that made it


def test_a_metrics_folder_is_removed_only_when_its_supervisor_is_gone(tmp_path: Path) -> None:
    from mailseal.gateway.metrics import LOCK_NAME, SharedFolder

    abandoned = tmp_path / "metrics-old"
    abandoned.mkdir()
    (abandoned / LOCK_NAME).touch()  # nobody holds its lock: a supervisor that was killed
    (abandoned / "counter_1.db").write_bytes(b"x")
    running = SharedFolder(tmp_path)  # another node's supervisor, still running on this spool
    try:
        assert not abandoned.exists()
        second = SharedFolder(tmp_path)
        assert running.path.is_dir() and second.path != running.path
        second.close()
        assert not second.path.exists() and running.path.is_dir()
    finally:
        running.close()


def _connect(port: int, source: str) -> smtplib.SMTP | str:
    """An SMTP connection from ``source`` (a loopback address), or the 421 that refused it."""
    try:
        return smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0))
    except smtplib.SMTPConnectError as exc:
        return f"{exc.smtp_code} {exc.smtp_error.decode()}"


def test_connection_limits_are_the_nodes(tmp_path: Path) -> None:
    """max_connections and max_connections_per_client bound the node, not each front-end (shared counts): past
    them every front-end refuses, whichever the kernel picks; a killed front-end's connections free their slots."""
    port = free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    settings.write_text(settings.read_text().replace(
        "[gateway]\n", "[gateway]\nmax_connections = 4\nmax_connections_per_client = 2\n"
                       "client_limit_exceptions = []\n", 1))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--processes", "2", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{free_port()}"],
                                cwd=tmp_path, env=env, stdout=out, stderr=out)
        held: list[smtplib.SMTP] = []
        try:
            _wait_for(log, rf"mailseal gateway: 2 front-end processes listening on 127\.0\.0\.1:{port}", proc)
            pids = {int(i): int(p)
                    for i, p in re.findall(r"front-end (\d) \(pid (\d+)\) listening on", log.read_text())}
            # Each attempt lands on either front-end (the kernel hashes the addresses): each front-end counting
            # alone would have admitted some of the refused ones.
            for source in ("127.0.0.1", "127.0.0.1"):
                client = _connect(port, source)
                assert isinstance(client, smtplib.SMTP), client
                held.append(client)
            for _ in range(6):
                assert _connect(port, "127.0.0.1") == status.TOO_MANY_FROM_CLIENT
            for source in ("127.0.0.2", "127.0.0.2"):
                client = _connect(port, source)
                assert isinstance(client, smtplib.SMTP), client
                held.append(client)
            for _ in range(6):
                assert _connect(port, "127.0.0.3") == status.TOO_MANY_CONNECTIONS
            on_one = sum(_holder(pids, port, c.sock.getsockname()[1]) == 1 for c in held)
            os.kill(pids[1], signal.SIGKILL)
            restarted = _wait_for(log, r"front-end 1 started again \(pid (\d+)\)", proc)
            _wait_for(log, rf"front-end 1 \(pid {restarted.group(1)}\) listening on", proc)
            for n in range(on_one):  # the dead front-end's slots are free again, no more
                client = _connect(port, f"127.0.0.{10 + n}")
                assert isinstance(client, smtplib.SMTP), client
                held.append(client)
            assert _connect(port, "127.0.0.9") == status.TOO_MANY_CONNECTIONS
        finally:
            for client in held:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]

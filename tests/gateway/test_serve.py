"""`mailseal serve` and `make run`'s demo as a user runs them: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import RunCli, cli_env
from tests.gateway.harness import message
from tests.support.processes import wait_port
from tests.support.smtp_sink import SmtpSink, free_port

GOOD = """
[gateway]
listen = "127.0.0.1:2525"
next_hop = "127.0.0.1:2526"
hostname = "mx.example.org"
accepted_domains = ["example.org"]
[policy]
sign = "if-key"
[[policy.rules]]
name = "secure-subject"
subject_contains = "[secure]"
encrypt = "require"
"""


def test_check_config_summary(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text(GOOD)
    done = run_cli("serve", "--check-config", "--config", config)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "settings OK" in out and "next_hop: 127.0.0.1:2526" in out and "rules: 1" in out


@pytest.mark.parametrize(("table", "named"), [
    ('[lookup]\norder = ["local", "smimea"]\n', "[lookup.smimea] needs nameserver"),
    ('[lookup]\nttl = "an hour"\n', "lookup.ttl must be a number"),
    ('[pkcs11]\npin = "1234"\n', "a PIN is never read from the settings file"),
], ids=["smimea-without-nameserver", "ttl-text", "pkcs11-pin"])
def test_check_config_checks_lookup_and_pkcs11(run_cli: RunCli, tmp_path: Path, table: str, named: str) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text(GOOD + table)
    done = run_cli("serve", "--check-config", "--config", config)
    assert done.returncode == 78, done.stderr  # EX_CONFIG, as for every other settings error
    assert done.stderr.decode().startswith("mailseal: error[configuration]: ") and named in done.stderr.decode()


def test_check_config_names_the_bad_key(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text(GOOD.replace("max_message", "x").replace('hostname = "mx.example.org"',
                                                                'hostnme = "mx.example.org"'))
    done = run_cli("serve", "--check-config", "--config", config)
    assert done.returncode == 78  # EX_CONFIG: the systemd unit does not restart on it
    err = done.stderr.decode()
    assert "error[configuration]" in err and "gateway.hostnme" in err and "hostname" in err
    assert "Traceback" not in err


def _demo_setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The demo organisation's data directory (`mailseal.demo --setup-only`) and an environment to serve it."""
    home = tmp_path / "mailseal-data"
    env = cli_env({"MAILSEAL_HOME": str(home)})
    env.pop("MAILSEAL_CONFIG", None)
    subprocess.run([sys.executable, "-m", "mailseal.demo", "--setup-only", "--metrics-port", str(free_port()),
                    "--web-port", str(free_port()), "--portal-port", str(free_port())],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    env["MAILSEAL_STORE_KEYFILE"] = str(home / "demo" / "store.key")
    return home, env


def test_demo_then_serve_with_metrics(tmp_path: Path) -> None:
    port, sink_port, metrics_port, web_port = free_port(), free_port(), free_port(), free_port()
    env = cli_env({"MAILSEAL_HOME": str(tmp_path / "mailseal-data")})
    env.pop("MAILSEAL_CONFIG", None)
    env.pop("MAILSEAL_STORE_PASSPHRASE", None)
    # `make run` in self-test mode: the demo organisation, the gateway and the sink, one message through
    demo = subprocess.run([sys.executable, "-m", "mailseal.demo", "--self-test", "--port", str(port),
                           "--sink-port", str(sink_port), "--metrics-port", str(metrics_port),
                           "--web-port", str(web_port), "--portal-port", str(free_port())],
                          cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    assert demo.returncode == 0, demo.stderr.decode()
    assert b"signature=valid -> OK" in demo.stdout
    # then `mailseal serve` on the same data directory, relaying to a sink of the test's own
    env["MAILSEAL_STORE_KEYFILE"] = str(tmp_path / "mailseal-data" / "demo" / "store.key")
    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(port, proc)
            rcpts = ["carol@partner.example", "nobody@elsewhere.example"]
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("alice@example.org", rcpts, message("alice@example.org", rcpts).as_bytes(
                    policy=__import__("email.policy").policy.SMTP))
            copies = sink.wait_for(2)
            assert sorted(r for c in copies for r in c.rcpt_tos) == sorted(rcpts)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
            assert 'mailseal_messages_total{action="encrypted",result="accepted"} 1.0' in metrics
            assert "mailseal_copies_total 2.0" in metrics
            # the settings file has a [web] table: the console is served beside the gateway, on its store
            login = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=10)
            assert login.status == 200 and "nonce-" in login.headers["Content-Security-Policy"]
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    log = err.decode()
    assert '"result": "accepted"' in log
    assert "PRIVATE KEY" not in log and "Hello" not in log  # no key material, no message bodies in the logs
    os.sync()


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_large_message_streams_through_in_bounded_memory(tmp_path: Path) -> None:
    """40 MiB through `mailseal serve`, signed and encrypted: it arrives whole, and the gateway's peak memory
    stays far below the message size (spooled to disk in, streamed through sign/encrypt, streamed out)."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import pkcs12

    from mailseal import api
    from mailseal.cms.identity import Identity

    port, sink_port = free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    body = b"".join(b"%08d " % i + b"x" * 66 + b"\r\n" for i in range(40 * 1024 * 1024 // 77))
    data = (b"From: alice@example.org\r\nTo: carol@partner.example\r\nSubject: big\r\n"
            b"Message-ID: <big@example.org>\r\n\r\n" + body)
    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(port, proc)
            # start-up peaks on the key store's scrypt (128 MiB by design); measure the message from here
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            start = _peak_rss_mib(proc.pid)
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
                client.sendmail("alice@example.org", ["carol@partner.example"], data)
            [got] = sink.wait_for(1, timeout=60)
            peak = _peak_rss_mib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert peak - start < 40, f"gateway RSS grew from {start:.0f} to {peak:.0f} MiB for a 40 MiB message"
    key, cert, chain = pkcs12.load_key_and_certificates((home / "demo" / "carol.p12").read_bytes(), b"demo")
    opened = api.open(got.data, [Identity(key, cert, tuple(chain))])  # type: ignore[arg-type]
    assert opened.report.encrypted
    assert hashlib.sha256(opened.inner.body).digest() == hashlib.sha256(body).digest()


def test_listen_and_next_hop_from_the_environment(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text(GOOD)
    done = run_cli("serve", "--check-config", "--json", "--config", config,
                   env={"MAILSEAL_LISTEN": "0.0.0.0:25", "MAILSEAL_NEXT_HOP": "10.0.0.5:10026"})
    assert done.returncode == 0, done.stderr
    summary = __import__("json").loads(done.stdout)
    assert summary["listen"] == "0.0.0.0:25" and summary["next_hop"] == "10.0.0.5:10026"


def _children(pid: int) -> list[int]:
    """Child processes of pid, from /proc (no procps needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_worker_processes(tmp_path: Path) -> None:
    """gateway.worker_processes: the pipeline runs in spawned processes; copies and refusals come back."""
    port, sink_port = free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    settings.write_text(settings.read_text().replace("[gateway]\n", "[gateway]\nworker_processes = 2\n", 1)
                        + '\n[policy.domains."refused.example"]\nencrypt = "require"\n')
    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(port, proc, timeout=60)
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                for i in range(4):
                    client.sendmail("alice@example.org", ["carol@partner.example"], message(
                        "alice@example.org", ["carol@partner.example"], f"n{i}").as_bytes(
                        policy=__import__("email.policy").policy.SMTP))
                big = message("alice@example.org", ["carol@partner.example"], "big", "y" * 70 + "\n").as_bytes(
                    policy=__import__("email.policy").policy.SMTP) + (b"z" * 70 + b"\r\n") * 90_000  # > 6 MiB
                client.sendmail("alice@example.org", ["carol@partner.example"], big)  # travels as a spool file
                refused = message("alice@example.org", ["x@refused.example"]).as_bytes(
                    policy=__import__("email.policy").policy.SMTP)
                try:
                    client.sendmail("alice@example.org", ["x@refused.example"], refused)
                    raise AssertionError("not refused")
                except smtplib.SMTPDataError as exc:
                    assert exc.smtp_code == 550 and b"x@refused.example" in exc.smtp_error
            copies = sink.wait_for(5, timeout=60)
            assert all(b"application/pkcs7-mime" in c.data for c in copies)
            assert max(len(c.data) for c in copies) > 6_000_000
            assert len(_children(proc.pid)) >= 2, "no worker processes"
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert not list((home / "spool").glob("copy-*")) and not list((home / "spool").glob("in-*"))


def _send_or_refusal(port: int, rcpt: str) -> int:
    """250 when the message was taken, else the code of its refusal."""
    msg = message("alice@example.org", [rcpt]).as_bytes(policy=__import__("email.policy").policy.SMTP)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        try:
            client.sendmail("alice@example.org", [rcpt], msg)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code
    return 250


def test_a_stored_policy_change_reaches_a_running_gateway(tmp_path: Path) -> None:
    """gateway.policy_poll_seconds: a policy saved in the store (as the console saves it, on any node) is applied
    by a running `mailseal serve` without a SIGHUP, and said in its log; and the node reports its health there."""
    import time

    from mailseal.store import Store, stored_policy
    from mailseal.store.database import SQLITE_FILE
    from mailseal.store.nodes import nodes

    port, sink_port = free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    settings.write_text(settings.read_text().replace(
        "[gateway]\n", '[gateway]\npolicy_poll_seconds = 0.5\nhealth_interval_seconds = 0.5\nnode_name = "mx-poll"\n', 1))
    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(port, proc, timeout=60)
            assert _send_or_refusal(port, "x@later.example") == 250  # the file's policy: sent signed only
            sink.wait_for(1, timeout=60)
            store = Store.open(f"sqlite:///{home / SQLITE_FILE}")
            try:
                stored_policy.save(store, {"domains": {"later.example": {"encrypt": "require"}}}, actor="test")
            finally:
                store.close()
            deadline = time.monotonic() + 60
            while (code := _send_or_refusal(port, "x@later.example")) == 250 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert code == 550
            store = Store.open(f"sqlite:///{home / SQLITE_FILE}")
            try:
                while not (reported := nodes(store)) or reported[0].accepted < 1:
                    assert time.monotonic() < deadline, "no heartbeat with the accepted message"
                    time.sleep(0.5)
            finally:
                store.close()
            assert reported[0].name == "mx-poll" and reported[0].next_hop_ok is True
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "the stored policy changed (version None -> 1): reloading" in err.decode()


def test_a_reload_applies_the_console_timeouts_and_names_what_needs_a_restart(tmp_path: Path) -> None:
    """SIGHUP with a changed [web] table: the idle timeout applied, a new listen address named "restart to apply"
    (the console keeps answering where it was); a [web] table that does not parse refuses the whole reload."""
    import time

    port, sink_port, new_web = free_port(), free_port(), free_port()
    home, env = _demo_setup(tmp_path)
    settings = home / "mailseal.toml"
    text = settings.read_text()
    web_port = int(text.split("[web]", 1)[1].split('listen = "127.0.0.1:', 1)[1].split('"', 1)[0])
    with SmtpSink(port=sink_port):
        proc = subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--listen",
                                 f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_port(port, proc, timeout=60)
            wait_port(web_port, proc, timeout=60)
            # the socket listens before uvicorn answers, and the SIGHUP handler is set once it does
            assert urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=30).status == 200
            time.sleep(0.5)
            settings.write_text(text.replace(f'listen = "127.0.0.1:{web_port}"',
                                             f'listen = "127.0.0.1:{new_web}"\nidle_timeout = 60'))
            proc.send_signal(signal.SIGHUP)
            time.sleep(3)
            try:
                still = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=10).status
            except OSError as exc:
                still = str(exc)
            settings.write_text(text.replace("[web]\n", "[web]\nidle_timeout = -1\n"))
            proc.send_signal(signal.SIGHUP)
            time.sleep(3)
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    log = err.decode()
    assert proc.returncode == 0, log
    assert still == 200, log
    assert "reload: web.listen changed; restart to apply" in log
    assert "reload refused, the previous settings stay in force" in log and "web.idle_timeout" in log


def test_serve_waits_for_a_database_that_does_not_answer_then_gives_up_with_one_line(run_cli: RunCli,
                                                                                      tmp_path: Path) -> None:
    # A real PostgreSQL URL at a port where nothing listens (docs/cluster.md: a node started before its database).
    config = tmp_path / "mailseal.toml"
    # a free port: the docs' examples serve on 2525, and another test file may run at the same time (xdist)
    config.write_text(GOOD.replace("127.0.0.1:2525", f"127.0.0.1:{free_port()}")
                      + "[store]\nstartup_wait_seconds = 3\n")
    db_url = f"postgresql+psycopg://mailseal@127.0.0.1:{free_port()}/mailseal"
    done = run_cli("serve", "--config", config, env={"MAILSEAL_HOME": str(tmp_path / "home"),
                                                     "MAILSEAL_DB_URL": db_url})
    err = done.stderr.decode()
    assert done.returncode == 2, err  # not 78 (EX_CONFIG): a service manager starts it again later
    assert "waiting for the store database: the store database did not answer" in err
    assert "next try in" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("mailseal: error[temporary-failure]: the store database did not "
                                                   "answer")
    assert "(waited 3 s: [store] startup_wait_seconds)" in err

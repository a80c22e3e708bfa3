"""`mailseal serve` as systemd runs it: sd_notify (READY, RELOADING, STOPPING), SIGHUP reload, exit codes."""

from __future__ import annotations

import email.policy
import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mailseal.cli.serve import EXIT_CONFIG
from mailseal.gateway import notify
from tests.gateway.harness import message
from tests.ops.conftest import DemoHome, NotifySocket
from tests.support.smtp_sink import SmtpSink, free_port

SECRET_RULE = """
[[policy.rules]]
name = "secret-subject"
subject_contains = "[secret]"
encrypt = "require"
"""


def _mail(subject: str, to: str = "nobody@elsewhere.example") -> bytes:
    return message("alice@example.org", [to], subject).as_bytes(policy=email.policy.SMTP)


def _serve(home: DemoHome, port: int, sink_port: int, notify_socket: NotifySocket) -> subprocess.Popen[bytes]:
    env = {**home.env, "MAILSEAL_STORE_KEYFILE": str(home.keyfile), "NOTIFY_SOCKET": notify_socket.address}
    return subprocess.Popen([sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(home.settings),
                             "--listen", f"127.0.0.1:{port}", "--next-hop", f"127.0.0.1:{sink_port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    return err.decode()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_reaches_a_datagram_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, abstract: bool) -> None:
    address = f"@mailseal-test-{tmp_path.name}" if abstract else str(tmp_path / "notify")
    sock = NotifySocket(address)
    try:
        monkeypatch.setenv(notify.NOTIFY_ENV, address)
        assert notify.ready("listening on 127.0.0.1:25")
        got = sock.wait_for("READY", timeout=5)
        assert got["STATUS"] == "listening on 127.0.0.1:25"
        assert notify.reloading()
        assert int(sock.wait_for("RELOADING", timeout=5)["MONOTONIC_USEC"]) > 0
    finally:
        sock.close()


def test_notify_without_systemd_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notify.NOTIFY_ENV, raising=False)
    assert notify.ready("x") is False


def test_ready_only_once_the_smtp_port_accepts(demo_home: DemoHome, notify_socket: NotifySocket) -> None:
    port, sink_port = free_port(), free_port()
    proc = _serve(demo_home, port, sink_port, notify_socket)
    try:
        ready = notify_socket.wait_for("READY")
        # Connect at once, no retry: READY=1 promises a listening port.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            assert conn.recv(100).startswith(b"220 ")
        assert f"127.0.0.1:{port}" in ready["STATUS"]
        assert not any("READY" in m for m in notify_socket.received[:-1])
    finally:
        err = _stop(proc)
    assert notify_socket.wait_for("STOPPING", timeout=10)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("worker_processes", [0, 2], ids=["threads", "processes"])
def test_sighup_reloads_the_policy_without_dropping_connections(demo_home: DemoHome, notify_socket: NotifySocket,
                                                                 worker_processes: int) -> None:
    """With gateway.worker_processes the new policy reaches new worker processes; the old ones serve the open
    connection until it closes."""
    if worker_processes:
        demo_home.settings.write_text(demo_home.settings.read_text().replace(
            "[gateway]\n", f"[gateway]\nworker_processes = {worker_processes}\n", 1))
        assert f"worker_processes = {worker_processes}" in demo_home.settings.read_text()
    port, sink_port = free_port(), free_port()
    with SmtpSink(port=sink_port) as sink:
        proc = _serve(demo_home, port, sink_port, notify_socket)
        try:
            notify_socket.wait_for("READY")
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as before:
                before.ehlo()
                # the first policy lets [secret] mail go out unencrypted (encrypt = "if-possible")
                # with a setting that needs a restart: reported, the rest applied
                demo_home.settings.write_text(demo_home.settings.read_text().replace(
                    "[gateway]\n", "[gateway]\nmax_connections = 7\n", 1) + SECRET_RULE)
                proc.send_signal(signal.SIGHUP)
                notify_socket.wait_for("RELOADING")
                notify_socket.wait_for("READY", contains="settings reloaded")
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as after:
                    with pytest.raises(smtplib.SMTPDataError) as refused:
                        after.sendmail("alice@example.org", ["nobody@elsewhere.example"], _mail("[secret] new"))
                    assert refused.value.smtp_code == 550
                # the connection opened before the reload finishes with the policy it started with
                before.sendmail("alice@example.org", ["nobody@elsewhere.example"], _mail("[secret] old"))
            [copy] = sink.wait_for(1, timeout=60)
            assert b"[secret] old" in copy.data

            # a broken settings file is refused; the reloaded policy stays in force
            good = demo_home.settings.read_text()
            demo_home.settings.write_text(good + "\n[gateway\n")
            proc.send_signal(signal.SIGHUP)
            notify_socket.wait_for("READY", contains="reload refused")
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as later:
                with pytest.raises(smtplib.SMTPDataError) as still:
                    later.sendmail("alice@example.org", ["nobody@elsewhere.example"], _mail("[secret] later"))
                assert still.value.smtp_code == 550
                later.sendmail("alice@example.org", ["nobody@elsewhere.example"], _mail("plain"))
            assert len(sink.wait_for(2, timeout=60)) == 2

            # so is a TLS certificate that cannot be loaded
            demo_home.settings.write_text(good.replace("[gateway]\n", "[gateway]\n", 1) + (
                '\n[gateway.tls]\ncertificate = "/nonexistent/cert.pem"\nkey = "/nonexistent/key.pem"\n'))
            proc.send_signal(signal.SIGHUP)
            notify_socket.wait_for("READY", contains="reload refused")
        finally:
            err = _stop(proc)
    assert proc.returncode == 0, err
    refusals = [line for line in err.splitlines() if "reload refused" in line]
    assert len(refusals) == 2 and "not valid TOML" in refusals[0] and "/nonexistent/cert.pem" in refusals[1], err
    assert "Traceback" not in err and "worker process died" not in err
    assert "reload: gateway.max_connections changed; restart to apply" in err


def test_check_config_proves_the_store_can_be_unlocked(demo_home: DemoHome) -> None:
    def check(**env: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "mailseal.cli.main", "serve", "--config",
                               str(demo_home.settings), "--check-config"],
                              env={**demo_home.env, **env}, capture_output=True, timeout=120, check=False)

    ok = check(MAILSEAL_STORE_KEYFILE=str(demo_home.keyfile))
    assert ok.returncode == 0, ok.stderr
    summary = dict(line.strip().split(": ", 1) for line in ok.stdout.decode().splitlines()[1:])
    assert summary["key_store"] == "unlocked" and int(summary["sealed_keys"]) == 2  # the demo's alice and bob

    missing = check()
    wrong = check(MAILSEAL_STORE_PASSPHRASE="not the passphrase")
    for done, reason in ((missing, "no key store passphrase"), (wrong, "passphrase is wrong")):
        assert done.returncode == EXIT_CONFIG
        lines = done.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mailseal: error[configuration]: the key store holds 2 "
                                                       "sealed keys but cannot be unlocked"), lines
        assert reason in lines[0]


def test_serve_without_the_passphrase_exits_with_ex_config(demo_home: DemoHome) -> None:
    done = subprocess.run([sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(demo_home.settings),
                           "--listen", f"127.0.0.1:{free_port()}"],
                          env=demo_home.env, capture_output=True, timeout=120, check=False)
    assert done.returncode == EXIT_CONFIG
    assert done.stderr.decode().count("\n") == 1 and "cannot be unlocked" in done.stderr.decode()


def test_sighup_loads_a_renewed_tls_certificate(demo_home: DemoHome, notify_socket: NotifySocket,
                                                tmp_path: Path) -> None:
    from tests.gateway.harness import client_tls, tls_files

    first = tmp_path / "first"
    first.mkdir()
    cert, key = tls_files(first)
    demo_home.settings.write_text(demo_home.settings.read_text() + (
        f'\n[gateway.tls]\ncertificate = "{cert}"\nkey = "{key}"\n'))
    port, sink_port = free_port(), free_port()
    with SmtpSink(port=sink_port) as sink:
        proc = _serve(demo_home, port, sink_port, notify_socket)
        try:
            notify_socket.wait_for("READY")
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as before:
                before.starttls(context=client_tls())
                old_cert = before.sock.getpeercert(binary_form=True)
                assert old_cert == ssl_der(cert)
                # the certificate is renewed in place, as certbot and the like do
                renewed = tmp_path / "renewed"
                renewed.mkdir()
                new_cert, new_key = tls_files(renewed)
                cert.write_bytes(new_cert.read_bytes())
                key.write_bytes(new_key.read_bytes())
                proc.send_signal(signal.SIGHUP)
                notify_socket.wait_for("READY", contains="settings reloaded")
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as after:
                    after.starttls(context=client_tls())
                    assert after.sock.getpeercert(binary_form=True) == ssl_der(new_cert) != old_cert
                before.sendmail("alice@example.org", ["nobody@elsewhere.example"], _mail("over the old TLS"))
            assert b"over the old TLS" in sink.wait_for(1, timeout=60)[0].data
        finally:
            err = _stop(proc)
    assert proc.returncode == 0, err


def ssl_der(pem_file: Path) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(pem_file.read_text())

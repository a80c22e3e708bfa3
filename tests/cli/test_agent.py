"""The resident agent (issue 12, point 5): with ``$MAILSEAL_AGENT=on`` a one-shot command is run by a forked child
of a warm mailseal process, with the caller's streams, folder, environment and terminal; the key store's
key-encryption key is kept for a while; a stale or unreachable agent never changes what a command does.

Every command here goes through ``python -m mailseal.cli.launcher``, the ``mailseal`` executable's entry point.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pexpect
from cryptography.hazmat.primitives import serialization

import mailseal
from mailseal.agentclient import recv_frame, send_frame
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext
from tests.cli.conftest import TIMEOUT, Agent
from tests.conftest import cli_env
from tests.support.testpki import PASSWORD, TestPKI, User


def _verified_signer(signed: bytes, pki: TestPKI) -> str:
    report = mailseal.verify(signed, ValidationContext(trust=TrustStore((pki.root_cert,))))
    assert report.status == "valid", report.to_dict()
    return str(report.signers[0].emails[0])


def test_commands_run_in_the_agent_with_the_callers_folder_streams_and_environment(
        agent: Agent, alice: User, message: Path, pki: TestPKI) -> None:
    # A relative -i and -o: the child works in the caller's folder.
    proc = agent.run("sign", "--key", alice.p12_path, "--pass", f"pass:{PASSWORD}", "-i", message.name,
                     "-o", "signed.eml", cwd=message.parent)
    assert proc.returncode == 0, proc.stderr.decode()
    assert _verified_signer((message.parent / "signed.eml").read_bytes(), pki) == alice.email
    # Standard input and output are the caller's own.
    proc = agent.run("sign", "--key", alice.p12_path, "--pass", f"pass:{PASSWORD}", input=message.read_bytes())
    assert proc.returncode == 0 and _verified_signer(proc.stdout, pki) == alice.email
    # The caller's environment: the home it names is the one the command reports.
    proc = agent.run("status")
    assert f"home: {agent.home}" in proc.stdout.decode()
    status = agent.status()
    assert status["running"] is True and status["commands_run"] == 3
    assert agent.socket.is_socket() and (agent.socket.parent.stat().st_mode & 0o777) == 0o700


def test_exit_code_and_error_line_come_back(agent: Agent, message: Path) -> None:
    proc = agent.run("sign", "--key", "missing.pem", "-i", message)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().startswith("mailseal: error[io]: ") and b"Traceback" not in proc.stderr
    assert agent.status()["commands_run"] == 1
    usage = agent.run("inspect", "--help").stdout.decode()
    assert usage.startswith("Usage: mailseal inspect")  # not the agent's own `python -m ...` name


def test_store_key_is_kept_unlocked_and_a_wrong_passphrase_still_fails(
        agent: Agent, alice: User, message: Path, pki: TestPKI, tmp_path: Path) -> None:
    passphrase = {"MAILSEAL_STORE_PASSPHRASE": "store secret"}
    proc = agent.run("keys", "import", alice.p12_path, "--pass", f"pass:{PASSWORD}", **passphrase)
    assert proc.returncode == 0, proc.stderr.decode()
    for n in range(2):
        out = tmp_path / f"from-{n}.eml"
        proc = agent.run("sign", "--from", alice.email, "-i", message, "-o", out, **passphrase)
        assert proc.returncode == 0, proc.stderr.decode()
        assert _verified_signer(out.read_bytes(), pki) == alice.email
    assert agent.status()["cached_keys"] == 1  # one derivation, kept: the import and both signatures share it
    proc = agent.run("sign", "--from", alice.email, "-i", message, MAILSEAL_STORE_PASSPHRASE="wrong")
    assert proc.returncode != 0 and b"passphrase is wrong" in proc.stderr


def test_stale_agent_steps_aside_and_the_command_still_runs(
        agent: Agent, alice: User, message: Path, pki: TestPKI) -> None:
    assert agent.run("agent", "start").returncode == 0
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(agent.socket))
    send_frame(sock, {"op": "run", "argv": ["--version"], "cwd": "/", "env": {}, "executable": "/other/python"},
               [0, 1, 2])
    assert "stale" in str(recv_frame(sock).get("error"))
    sock.close()
    deadline = time.monotonic() + TIMEOUT
    while agent.socket.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not agent.socket.exists()
    proc = agent.run("sign", "--key", alice.p12_path, "--pass", f"pass:{PASSWORD}", "-i", message)
    assert proc.returncode == 0 and _verified_signer(proc.stdout, pki) == alice.email


def test_a_folder_open_to_others_is_never_used(agent: Agent, alice: User, message: Path, pki: TestPKI) -> None:
    folder = agent.socket.parent
    folder.mkdir(mode=0o700)
    folder.chmod(0o755)
    proc = agent.run("sign", "--key", alice.p12_path, "--pass", f"pass:{PASSWORD}", "-i", message)
    assert proc.returncode == 0 and _verified_signer(proc.stdout, pki) == alice.email  # done in-process
    assert not agent.socket.exists()
    assert agent.run("agent", "status").returncode == 1


def test_off_by_default(tmp_path: Path, alice: User, message: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = cli_env({"XDG_RUNTIME_DIR": str(runtime)})
    env.pop("MAILSEAL_AGENT", None)
    proc = subprocess.run([sys.executable, "-m", "mailseal.cli.launcher", "sign", "--key", str(alice.p12_path),
                           "--pass", f"pass:{PASSWORD}", "-i", str(message)], env=env, capture_output=True,
                          timeout=TIMEOUT, check=False)
    assert proc.returncode == 0 and not (runtime / "mailseal").exists()


def test_idle_agent_stops_by_itself(agent: Agent) -> None:
    proc = agent.run("agent", "start", "--idle-exit", "1")
    assert proc.returncode == 0 and agent.socket.exists(), proc.stderr.decode()
    deadline = time.monotonic() + TIMEOUT
    while agent.socket.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not agent.socket.exists()
    assert agent.run("agent", "status").returncode == 1


def test_pass_phrase_prompt_on_the_callers_terminal(agent: Agent, tmp_path: Path, alice: User, message: Path,
                                                    pki: TestPKI) -> None:
    """A forked child has no terminal of its own: it asks on the caller's, passed with the streams."""
    key = tmp_path / "alice.enc.pem"
    key.write_bytes(alice.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"pem secret")))
    cert = tmp_path / "alice.crt"
    cert.write_bytes(alice.cert.public_bytes(serialization.Encoding.PEM))
    assert agent.run("agent", "start").returncode == 0
    out = tmp_path / "signed.eml"
    child = pexpect.spawn(sys.executable, ["-m", "mailseal.cli.launcher", "sign", "--key", str(key), "--cert",
                                           str(cert), "-i", str(message), "-o", str(out)],
                          cwd=str(tmp_path), env=agent.env(), timeout=TIMEOUT)
    child.expect(f"Enter pass phrase for {key}:")
    child.sendline("pem secret")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    signer = mailseal.verify(out.read_bytes(), ValidationContext(trust=TrustStore((pki.root_cert,)))).signers[0]
    assert signer.intact and signer.emails == [alice.email]  # untrusted: --cert gave no intermediate
    assert agent.status()["commands_run"] == 1

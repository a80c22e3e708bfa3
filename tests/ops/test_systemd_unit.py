"""The shipped systemd unit (deploy/systemd/mailseal.service): what docs/deploy.md shows, and its command lines
run as systemd would run them (no systemd here): as a non-root user, with the passphrase as a credential in
$CREDENTIALS_DIRECTORY, from mailseal installed from its wheel, paths moved into a temporary prefix."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailseal import api
from mailseal.cli.serve import EXIT_CONFIG
from mailseal.pki.truststore import TrustStore
from tests.ops.conftest import REPO, Installed, NotifySocket
from tests.support.processes import wait_port
from tests.support.smtp_sink import SmtpSink, free_port
from tests.support.testpki import TestPKI

UNIT = REPO / "deploy" / "systemd" / "mailseal.service"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
USER = "mailseal-test"
INSTALLED_BIN = "/opt/mailseal/bin/mailseal"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) pairs in order (keys may repeat: Environment=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def service() -> list[tuple[str, str]]:
    return parse_unit(UNIT.read_text())["Service"]


def values(key: str) -> list[str]:
    return [v for k, v in service() if k == key]


def test_the_doc_shows_the_shipped_unit() -> None:
    blocks = re.findall(r"```ini\n(.*?)```", DEPLOY_DOC.read_text(), re.S)
    assert UNIT.read_text() in blocks
    assert "deploy/systemd/mailseal.service" in DEPLOY_DOC.read_text()


def test_the_unit_asks_for_what_the_service_needs() -> None:
    assert values("Type") == ["notify"]
    assert values("LoadCredential") == ["store-passphrase:/etc/mailseal/store-passphrase"]
    assert values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert str(EXIT_CONFIG) in values("RestartPreventExitStatus")[0].split()
    assert values("Restart") == ["on-failure"]
    assert values("User") == ["mailseal"]
    assert values("CapabilityBoundingSet") == [""]  # no capabilities at all (mode a listens above 1024)
    for key, expected in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                          ("PrivateTmp", "yes"), ("ReadWritePaths", "/var/lib/mailseal"),
                          ("SystemCallFilter", "@system-service")):
        assert values(key) == [expected], key
    assert set(values("RestrictAddressFamilies")[0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    # the check runs the same program with the same settings as the service
    assert values("ExecStartPre") == [values("ExecStart")[0] + " --check-config"]


def _rewritten(text: str, prefix: Path, mailseal: str) -> str:
    return (text.replace(INSTALLED_BIN, mailseal).replace("/etc/mailseal", str(prefix / "etc" / "mailseal"))
            .replace("/var/lib/mailseal", str(prefix / "var" / "lib" / "mailseal")))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "mailseal.service"
    # the programs of this machine: the unit's /opt/mailseal is not installed here
    unit.write_text(_rewritten(UNIT.read_text(), tmp_path, shutil.which("true") or "/bin/true"))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # verify only warns about unknown keys and bad values: they must not be there either
    assert not re.search(r"Unknown key|Unknown section|Failed to parse|Invalid", output), output


# -- running the unit's command lines ------------------------------------------------------------------

@dataclass
class System:
    prefix: Path
    installed: Installed
    uid: int
    gid: int

    @property
    def etc(self) -> Path:
        return self.prefix / "etc" / "mailseal"

    @property
    def data(self) -> Path:
        return self.prefix / "var" / "lib" / "mailseal"

    def command(self, key: str) -> list[str]:
        [line] = values(key)
        return shlex.split(_rewritten(line, self.prefix, str(self.installed.mailseal)))

    def environment(self, credentials: Path | None, **extra: str) -> dict[str, str]:
        """What systemd gives the service: Environment= lines, HOME, a plain PATH, and $CREDENTIALS_DIRECTORY."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.data),
               "USER": USER, "LOGNAME": USER}
        for assignment in values("Environment"):
            name, _, value = assignment.partition("=")
            env[name] = _rewritten(value, self.prefix, str(self.installed.mailseal))
        if credentials is not None:
            env["CREDENTIALS_DIRECTORY"] = str(credentials)
        env.update(extra)
        return env

    def as_user(self, argv: list[str]) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--", *argv]

    def credentials(self, name: str, content: bytes) -> Path:
        """A credentials directory as systemd makes it: owned by the service user, 0500, the file 0400."""
        directory = Path(tempfile.mkdtemp(prefix="creds-", dir=self.prefix))
        (directory / "store-passphrase").write_bytes(content)
        for path, mode in ((directory / "store-passphrase", 0o400), (directory, 0o500)):
            os.chown(path, self.uid, self.gid)
            path.chmod(mode)
        return directory


@pytest.fixture
def system(installed: Installed) -> Iterator[System]:
    """`mailseal init --system` (from the installed wheel, as root) into a world-readable temporary prefix, with
    the throwaway account mailseal-test."""
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("useradd"):
        pytest.skip("needs root, setpriv and useradd")
    prefix = Path(tempfile.mkdtemp(prefix="mailseal-unit-", dir="/tmp"))
    prefix.chmod(0o755)
    try:
        done = subprocess.run([str(installed.mailseal), "init", "--system", "--prefix", str(prefix), "--user", USER],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        entry = pwd.getpwnam(USER)
        yield System(prefix, installed, entry.pw_uid, entry.pw_gid)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def _import_key(system: System, pki: TestPKI) -> None:
    """The documented way to file a key: the mailseal CLI run as the service account, the key file as passphrase."""
    alice = pki.user("alice")
    p12 = system.prefix / "alice.p12"
    shutil.copyfile(alice.p12_path, p12)
    p12.chmod(0o644)
    env = system.environment(None, MAILSEAL_STORE_KEYFILE=str(system.etc / "store-passphrase"))
    done = subprocess.run(system.as_user([str(system.installed.mailseal), "keys", "import", "--pass", "pass:test",
                                          str(p12)]), env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr


def _configure(system: System, port: int, sink_port: int) -> None:
    settings = system.etc / "mailseal.toml"
    text = settings.read_text().replace('listen = "127.0.0.1:10025"', f'listen = "127.0.0.1:{port}"').replace(
        'next_hop = "127.0.0.1:10026"', f'next_hop = "127.0.0.1:{sink_port}"')
    assert str(port) in text and str(sink_port) in text
    settings.write_text(text)


@pytest.mark.slow  # the installed fixture: building and installing the wheel
def test_the_unit_serves_mail_with_keys_in_the_store_as_a_non_root_user(system: System, pki: TestPKI) -> None:
    port, sink_port = free_port(), free_port()
    _configure(system, port, sink_port)
    _import_key(system, pki)
    passphrase = (system.etc / "store-passphrase").read_bytes()
    credentials = system.credentials("store-passphrase", passphrase)
    notify = NotifySocket(f"@mailseal-unit-{system.prefix.name}")  # abstract: no file permissions involved
    env = system.environment(credentials, NOTIFY_SOCKET=notify.address)

    check = subprocess.run(system.as_user(system.command("ExecStartPre")), env=env, capture_output=True, text=True,
                           timeout=120, check=False)
    assert check.returncode == 0, check.stderr
    assert "key_store: unlocked" in check.stdout and "sealed_keys: 1" in check.stdout

    with SmtpSink(port=sink_port) as sink:
        proc = subprocess.Popen(system.as_user(system.command("ExecStart")), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            notify.wait_for("READY", timeout=90)
            wait_port(port, proc)
            uid_line = next(line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                            if line.startswith("Uid:"))
            assert uid_line.split()[1:] == [str(system.uid)] * 4  # real, effective, saved, filesystem
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("alice@example.org", ["carol@partner.example"],
                                b"From: alice@example.org\r\nTo: carol@partner.example\r\nSubject: hello\r\n"
                                b"Message-ID: <unit@example.org>\r\n\r\nHello from the unit.\r\n")
            [copy] = sink.wait_for(1, timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
            notify.close()
    assert proc.returncode == 0, err
    report = api.verify(copy.data, trust=TrustStore(anchors=(pki.root_cert,)))
    assert report.status == "valid", report.to_dict()
    assert [signer.certificate for signer in report.signers] == [pki.user("alice").cert]
    # the data directory stays the service account's
    assert all(path.stat().st_uid == system.uid for path in system.data.rglob("*"))


@pytest.mark.slow
def test_without_the_credential_the_check_fails_with_one_line(system: System, pki: TestPKI) -> None:
    _import_key(system, pki)
    for credentials in (None, system.credentials("store-passphrase", b"not the passphrase\n")):
        done = subprocess.run(system.as_user(system.command("ExecStartPre")), env=system.environment(credentials),
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == EXIT_CONFIG
        lines = done.stderr.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("mailseal: error[configuration]: the key store holds 1 sealed keys but cannot "
                                   "be unlocked"), lines

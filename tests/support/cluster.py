"""A mailseal cluster on separate hosts (network namespaces, tests/support/netns.py), as docs/cluster.md draws it:

    client (the test, on the bridge) --SMTP--> pf: Postfix --content filter--> a or b: `mailseal serve`
        a/b --re-injection--> pf --relayhost--> sink: the sink process (writes each message to a folder)
        a, b --SQL--> pg: PostgreSQL (one store: keys, certificates, policy, the CA's register, the audit log)

Postfix reaches the gateways by one name, ``gateways.mailseal.test``, which its host's own /etc/hosts gives both
nodes' addresses: Postfix's SMTP client (``smtp_host_lookup = native``) tries them in random order and falls back to
the other when one refuses or does not answer, as for two equal-preference MX hosts. The schema is created once,
by ``mailseal store upgrade`` on node a, before any node starts; the nodes do not migrate.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from mailseal.cms.identity import Identity
from tests.support.netns import Host, Network, require_netns
from tests.support.postfix import PostfixInstance, require_postfix
from tests.support.postgres import ThrowawayCluster, _bindir
from tests.support.sink_process import read_folder
from tests.support.smtp_sink import ReceivedMessage

if TYPE_CHECKING:
    from mailseal.store.database import Store

__all__ = ["GATEWAYS_NAME", "Cluster", "HostPostfix", "Node", "Org"]

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
GATEWAYS_NAME = "gateways.mailseal.test"
SMTP_PORT = 2525
METRICS_PORT = 9125
REINJECT_PORT = 10026
PG_PORT = 5432
#: The re-injection listener's process limit: above both nodes' relay pools plus the filter's concurrency.
REINJECT_PROCESSES = 100
CA_PASSPHRASE = "cluster CA secret"
STORE_PASSPHRASE = "cluster store secret"

#: Timeouts of Postfix's SMTP client towards the gateways, shortened so that a node that stops answering (a cut
#: cable) costs seconds, not Postfix's default minutes: the message is then tried on the other node.
_FILTER_TIMEOUTS = ("smtp_connect_timeout=2s", "smtp_helo_timeout=10s", "smtp_mail_timeout=10s",
                    "smtp_rcpt_timeout=10s", "smtp_data_init_timeout=10s", "smtp_data_xfer_timeout=15s",
                    "smtp_data_done_timeout=15s",
                    # Each delivery picks a node afresh (no cached connection to one node): the load is shared.
                    "smtp_connection_cache_on_demand=no")


class HostPostfix(PostfixInstance):
    """The private test Postfix of tests/support/postfix.py on a host of its own: it listens on the host's address,
    trusts the cluster's subnet, and hands mail to the gateways by name (two addresses)."""

    def __init__(self, host: Host, *, sink_address: tuple[str, int], binary: str) -> None:
        super().__init__(filter_address=(GATEWAYS_NAME, SMTP_PORT), sink_address=sink_address, public_port=25,
                         reinject_port=REINJECT_PORT, relay_domains=("example.org", "partner.example",
                                                                     "blocked.example"), binary=binary)
        self.host = host

    @property
    def public_address(self) -> tuple[str, int]:
        return (self.host.address, self.public_port)

    @property
    def reinject_address(self) -> tuple[str, int]:
        return (self.host.address, self.reinject_port)

    def main_cf_lines(self) -> list[str]:
        subnet = str(self.host.network.subnet)
        lines = [line.replace("inet_interfaces = 127.0.0.1", f"inet_interfaces = {self.host.address}")
                 .replace("mynetworks = 127.0.0.0/8", f"mynetworks = 127.0.0.0/8, {subnet}")
                 for line in super().main_cf_lines()]
        return lines

    def master_cf_lines(self) -> list[str]:
        subnet = str(self.host.network.subnet)
        out = []
        for line in super().master_cf_lines():
            line = line.replace("127.0.0.1:", f"{self.host.address}:").replace("=127.0.0.0/8", f"={subnet}")
            if line.startswith(f"{self.host.address}:{REINJECT_PORT} "):
                # Every node keeps idle connections to the re-injection listener for reuse (gateway/relay.py):
                # its process limit must cover all nodes' (docs/cluster.md), or a node waits for a free one.
                out += ["# Re-injection: room for every node's pooled connections (docs/cluster.md)."]
                line = re.sub(r"(\s)10(\s+smtpd)$", rf"\g<1>{REINJECT_PROCESSES}\2", line)
            out.append(line)
            if line.startswith("mailseal "):
                out.append("  # The gateways' name resolves through this host's /etc/hosts (both nodes).")
                out.append("  -o smtp_host_lookup=native")
                out += [f"  -o {option}" for option in _FILTER_TIMEOUTS]
        return out

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return super()._run(*self.host.argv(args), check=check)


@dataclass
class Org:
    """The organisation in the store: alice (a key in the key store), carol (a partner whose certificate is in the
    directory) and dave (a partner the directory does not know yet); the partners' keys are kept for reading."""

    ca_certificate: x509.Certificate
    alice: Identity
    carol: Identity
    dave: Identity


class Node:
    """One gateway node: ``mailseal serve`` on its host, with its own home (settings, spool, held, the CA's files)."""

    def __init__(self, cluster: Cluster, host: Host, name: str) -> None:
        self.cluster = cluster
        self.host = host
        self.name = name
        self.home = cluster.root / f"node-{name}"
        self.log = self.home / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hostname(self) -> str:
        return f"node-{self.name}.example.org"

    @property
    def smtp_address(self) -> tuple[str, int]:
        return (self.host.address, SMTP_PORT)

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{REPO}", "MAILSEAL_HOME": str(self.home),
                "MAILSEAL_CONFIG": str(self.home / "mailseal.toml"), "MAILSEAL_DB_URL": self.cluster.db_url,
                "MAILSEAL_STORE_PASSPHRASE": STORE_PASSPHRASE, "MAILSEAL_CA_PASSPHRASE": CA_PASSPHRASE,
                "PYTHONDONTWRITEBYTECODE": "1"}

    def write_settings(self) -> None:
        c = self.cluster
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        (self.home / "mailseal.toml").write_text(f"""\
[gateway]
listen = "{self.host.address}:{SMTP_PORT}"
next_hop = "{c.postfix_host.address}:{REINJECT_PORT}"
hostname = "{self.hostname}"
node_name = "{self.name}"
accepted_domains = ["example.org"]
trusted_networks = ["127.0.0.0/8", "{c.network.subnet}"]
metrics_listen = "{self.host.address}:{METRICS_PORT}"
relay_timeout_seconds = 20

[policy]
sign = "if-key"
encrypt = "if-possible"
decrypt_inbound = true
verify_inbound = true

[store]
startup_wait_seconds = 90
""")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``mailseal ARGS`` on this node's host, with its home and the cluster's store."""
        return self.host.run([sys.executable, "-m", "mailseal.cli.main", *args], env=self.env(), capture_output=True,
                             text=True, timeout=timeout)

    def start(self, *, wait: bool = True) -> Node:
        assert self.proc is None or self.proc.poll() is not None
        with self.log.open("ab") as log:
            log.write(f"--- start {time.time():.3f}\n".encode())
            log.flush()
            self.proc = self.host.popen([sys.executable, "-m", "mailseal.cli.main", "serve"], env=self.env(),
                                        stdout=log, stderr=log, start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def probe(self, path: str = "/readyz", timeout: float = 3.0) -> tuple[int, str]:
        """GET the node's metrics endpoint path from the client host: (status, body); (0, reason) unreachable."""
        url = f"http://{self.host.address}:{METRICS_PORT}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (OSError, urllib.error.URLError) as exc:
            return 0, str(exc)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"node {self.name} exited before it was ready:\n{self.log_tail()}")
            if self.probe()[0] == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"node {self.name} not ready after {timeout} s ({self.probe()}):\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the node and every process it started."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def reload(self) -> None:
        """SIGHUP: the node reads the settings and the stored policy again (new connections get them)."""
        assert self.proc is not None
        mark = self.log_text().count("settings reloaded")
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while self.log_text().count("settings reloaded") <= mark:
            assert time.monotonic() < deadline, f"node {self.name} did not reload:\n{self.log_tail()}"
            time.sleep(0.1)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class Cluster:
    """Every host and process of the module docstring; ``close()`` stops and removes them all."""

    def __init__(self, root: Path) -> None:
        require_netns()
        postfix_binary = require_postfix()
        bindir = _bindir()
        assert bindir is not None, "PostgreSQL binaries (Debian postgresql) are needed"
        self.root = root
        self.network = Network()
        self._stack = contextlib.ExitStack()
        self._stack.callback(self.network.close)
        try:
            self.postfix_host = self.network.host("pf")
            self.pg_host = self.network.host("pg")
            self.sink_host = self.network.host("sink")
            self.nodes = {name: Node(self, self.network.host(name), name) for name in ("a", "b")}
            self.sink_folder = root / "sink"
            self.sink_proc = self.sink_host.popen(
                [sys.executable, "-m", "tests.support.sink_process", self.sink_host.address, "25", self.sink_folder],
                env={**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{REPO}"}, cwd=REPO,
                stdout=subprocess.DEVNULL, stderr=(root / "sink.log").open("wb"))
            self._stack.callback(self._stop_sink)
            self.pg = ThrowawayCluster(bindir, host=self.pg_host.address, port=PG_PORT,
                                       prefix=self.pg_host.argv([]), clients=str(self.network.subnet))
            self._stack.callback(self.pg.stop)
            server = self.pg.start()
            self.db_url = server.rsplit("/", 1)[0] + "/mailseal"
            self._create_database(server)
            for node in self.nodes.values():
                node.write_settings()
            self.postfix_host.hosts_file({GATEWAYS_NAME: [n.host.address for n in self.nodes.values()]})
            self.postfix = HostPostfix(self.postfix_host, sink_address=(self.sink_host.address, 25),
                                       binary=postfix_binary)
            self._stack.callback(self.postfix.cleanup)
            # The schema, once, before any node starts: the nodes themselves never migrate (docs/cluster.md).
            done = self.nodes["a"].cli("store", "upgrade")
            assert done.returncode == 0, done.stderr
            self.org = self._populate()
            for node in self.nodes.values():
                self._stack.callback(node.kill)
                node.start(wait=False)
            self.postfix.start()
            for node in self.nodes.values():
                node.wait_ready()
        except BaseException:
            self.close()
            raise

    def _create_database(self, server: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(server)
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres",
                                     autocommit=True, connect_timeout=5) as conn:
                    conn.execute('CREATE DATABASE "mailseal"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _populate(self) -> Org:
        """The CA (its files copied to every node, its register in the store), the trust list, alice's key,
        carol's certificate in the directory; dave is issued but not filed anywhere."""
        from mailseal.pki.authority import CertificateAuthority
        from mailseal.store.ca_register import open_authority
        from mailseal.store.database import Store
        from mailseal.store.directory import Directory
        from mailseal.store.keystore import KeyStore
        from mailseal.store.trust import StoredTrust

        ca_dir = self.root / "ca"
        CertificateAuthority.create("mailseal cluster CA", CA_PASSPHRASE.encode(), directory=ca_dir, key_type="p256")
        store = Store.open(self.db_url, run_migrations=False)
        try:
            with open_authority(ca_dir, CA_PASSPHRASE.encode(), store=store) as ca:
                people = {}
                for address, key_type in (("alice@example.org", "p256"), ("carol@partner.example", "p256"),
                                          ("dave@partner.example", "p256")):
                    issued = ca.issue(address, usage="dual", key_type=key_type)
                    people[address] = Identity(issued.key, issued.certificate, (ca.certificate,))
                ca_cert = ca.certificate
            StoredTrust(store).add([ca_cert], actor="cluster-test")
            KeyStore(store, STORE_PASSPHRASE.encode()).add(people["alice@example.org"], actor="cluster-test")
            Directory(store).add(people["carol@partner.example"].certificate, "imported", actor="cluster-test")
        finally:
            store.close()
        for node in self.nodes.values():
            shutil.copytree(ca_dir, node.home / "ca")
        return Org(ca_cert, people["alice@example.org"], people["carol@partner.example"],
                   people["dave@partner.example"])

    def _stop_sink(self) -> None:
        if self.sink_proc.poll() is None:
            self.sink_proc.terminate()
            try:
                self.sink_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.sink_proc.kill()

    # -- mail ------------------------------------------------------------------------------------------------

    def received(self) -> list[ReceivedMessage]:
        return read_folder(self.sink_folder)

    def wait_received(self, count: int, timeout: float = 60.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"the sink has {len(got)} of {count} messages after {timeout} s; queue: "
                                     f"{self.postfix.queue()}\n{self.postfix.log_tail()}\n"
                                     + "\n".join(f"--- node {n.name}\n{n.log_tail(15)}" for n in self.nodes.values()))
            time.sleep(0.2)

    def store(self) -> Store:
        """The shared store, opened from the client host (an administrator's view)."""
        from mailseal.store.database import Store

        return Store.open(self.db_url, run_migrations=False)

    def close(self) -> None:
        self._stack.close()


def port_open(address: tuple[str, int], timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(address, timeout=timeout):
        return True
    return False


# -- sending and counting ------------------------------------------------------------------------------------------


def outbound(count: int, tag: str, to: str = "carol@partner.example", sender: str = "alice@example.org"
             ) -> list[bytes]:
    """``count`` messages (from alice by default), each with its own Message-ID (``<tag.N@cluster.test>``)."""
    from email.message import EmailMessage
    from email.policy import SMTP

    out = []
    for number in range(count):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = f"{tag} {number}"
        msg["Message-ID"] = f"<{tag}.{number}@cluster.test>"
        msg.set_content(f"Message {number} of {tag}.\n")
        out.append(msg.as_bytes(policy=SMTP))
    return out


def send(address: tuple[str, int], messages: list[bytes], sender: str = "alice@example.org",
         rcpt: str = "carol@partner.example") -> list[tuple[int, bytes]]:
    """Every message over one SMTP connection; the reply to each (code, text), never raising for a refusal."""
    import smtplib

    replies = []
    with smtplib.SMTP(*address, local_hostname="client.mailseal.test", timeout=60) as smtp:
        for data in messages:
            try:
                smtp.sendmail(sender, [rcpt], data)
                replies.append((250, b""))
            except smtplib.SMTPRecipientsRefused as exc:
                replies.append(exc.recipients[rcpt])
            except smtplib.SMTPResponseException as exc:
                replies.append((exc.smtp_code, exc.smtp_error))
                smtp.rset()
    return replies


def message_id(message: ReceivedMessage) -> str:
    [value] = message.header("Message-ID")
    return value.strip()


def via_node(message: ReceivedMessage) -> str | None:
    """The node that handed the message back to Postfix (from Postfix's Received line for the re-injection)."""
    for line in message.header("Received"):
        if line.startswith("from node-"):
            return line.split(".", 1)[0].removeprefix("from node-")
    return None


def wait_for_ids(cluster: Cluster, ids: set[str], timeout: float = 90.0) -> list[ReceivedMessage]:
    """Wait until every Message-ID of ``ids`` reached the sink and Postfix's queue is empty; every copy of them."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [m for m in cluster.received() if message_id(m) in ids]
        if {message_id(m) for m in mine} == ids and not cluster.postfix.queue():
            return mine
        if time.monotonic() > deadline:
            missing = sorted(ids - {message_id(m) for m in mine})
            raise AssertionError(
                f"{len(missing)} of {len(ids)} messages missing after {timeout} s ({missing[:5]}...); queue: "
                f"{cluster.postfix.queue()[:3]}\n{cluster.postfix.log_tail()}\n"
                + "\n".join(f"--- node {n.name}\n{n.log_tail(10)}" for n in cluster.nodes.values()))
        time.sleep(0.2)

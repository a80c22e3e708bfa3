"""The real thing: Postfix (after-queue content filter, docs/deploy.md mode a) -> `mailseal serve` -> Postfix's
re-injection listener -> the sink. Outbound mail leaves signed and encrypted; inbound encrypted mail arrives
decrypted and stamped; when the gateway is down, Postfix keeps the mail and delivers it once it is back."""

from __future__ import annotations

import email.policy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.pki.truststore import TrustStore
from mailseal.store.database import Store
from mailseal.store.trust import StoredTrust
from tests.gateway.harness import message
from tests.support.load import TargetProcess
from tests.support.postfix import PostfixInstance, running_postfix
from tests.support.smtp_sink import SmtpSink, free_port

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def demo_home(tmp_path: Path) -> Path:
    home = tmp_path / "mailseal-data"
    env = {**os.environ, "MAILSEAL_HOME": str(home), "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-m", "mailseal.demo", "--setup-only", "--metrics-port", str(free_port()),
                    "--web-port", str(free_port()), "--portal-port", str(free_port())], env=env, check=True,
                   capture_output=True, timeout=120)
    return home


def _gateway(home: Path, listen: int, next_hop: int, log: Path) -> TargetProcess:
    env = {"MAILSEAL_HOME": str(home), "MAILSEAL_STORE_KEYFILE": str(home / "demo" / "store.key"),
           "MAILSEAL_CONFIG": str(home / "mailseal.toml")}
    argv = [sys.executable, "-m", "mailseal.cli.main", "serve", "--listen", f"127.0.0.1:{listen}",
            "--next-hop", f"127.0.0.1:{next_hop}"]
    return TargetProcess(argv, "127.0.0.1", listen, log=log, env=env)


def _carol(home: Path) -> Identity:
    key, cert, chain = pkcs12.load_key_and_certificates((home / "demo" / "carol.p12").read_bytes(), b"demo")
    assert key is not None and cert is not None
    return Identity(key, cert, tuple(chain))  # type: ignore[arg-type]


def _send(postfix: PostfixInstance, sender: str, rcpt: str, data: bytes) -> None:
    postfix.send(data, sender, [rcpt])


def _trust(home: Path) -> TrustStore:
    """The demo's trust list in effect: its store's (the demo files its CA there, docs/trust.md)."""
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        return StoredTrust(store).trust_store()
    finally:
        store.close()


def test_outbound_and_inbound_through_postfix(demo_home: Path, tmp_path: Path) -> None:
    filter_port, reinject_port = free_port(), free_port()
    trust = _trust(demo_home)
    with SmtpSink() as sink, _gateway(demo_home, filter_port, reinject_port, tmp_path / "gw.log"), \
            running_postfix(filter_address=("127.0.0.1", filter_port), sink_address=sink.address,
                            reinject_port=reinject_port, relay_domains=("example.org", "partner.example")) as postfix:
        out = message("alice@example.org", ["carol@partner.example"], "via postfix", "Through Postfix.\n")
        _send(postfix, "alice@example.org", "carol@partner.example", out.as_bytes(policy=email.policy.SMTP))
        [got] = sink.wait_for(1, timeout=30)
        assert got.rcpt_tos == ["carol@partner.example"]
        assert b"Through Postfix." not in got.data
        opened = api.open(got.data, [_carol(demo_home)], trust=trust)
        assert opened.report.encrypted and opened.report.status == "valid"
        assert b"Through Postfix." in opened.message
        postfix.wait_queue_empty()
        assert len(sink.messages) == 1  # exactly once

        # inbound: carol signs and encrypts to alice (her certificate came with the signed mail above); the
        # gateway decrypts with alice's key, verifies carol's signature and stamps the result
        sink.clear()
        alice_cert = opened.report.signers[0].certificate
        assert alice_cert is not None
        original = message("carol@partner.example", ["alice@example.org"], "reply", "Sealed reply.\n")
        signed = api.sign(original.as_bytes(policy=email.policy.SMTP), _carol(demo_home))
        _send(postfix, "carol@partner.example", "alice@example.org", api.encrypt(signed, [alice_cert]))
        [got] = sink.wait_for(1, timeout=30)
        assert got.rcpt_tos == ["alice@example.org"]
        assert b"Sealed reply." in got.data
        [stamp] = got.header("Authentication-Results")
        assert stamp.startswith("mailseal.example.org;") and "smime=pass" in stamp
        assert "carol@partner.example" in stamp
        postfix.wait_queue_empty()
        assert len(sink.messages) == 1


def test_postfix_keeps_mail_while_the_gateway_is_down(demo_home: Path, tmp_path: Path) -> None:
    filter_port, reinject_port = free_port(), free_port()
    with SmtpSink() as sink, running_postfix(filter_address=("127.0.0.1", filter_port), sink_address=sink.address,
                                             reinject_port=reinject_port,
                                             relay_domains=("example.org", "partner.example")) as postfix:
        out = message("alice@example.org", ["carol@partner.example"], "wait", "Deferred, not lost.\n")
        _send(postfix, "alice@example.org", "carol@partner.example", out.as_bytes(policy=email.policy.SMTP))
        postfix.wait_for_queue(lambda entries: bool(entries), 15, "a deferred message")
        assert sink.messages == []
        with _gateway(demo_home, filter_port, reinject_port, tmp_path / "gw.log"):
            postfix.flush()
            [got] = sink.wait_for(1, timeout=30)
            assert b"application/pkcs7-mime" in got.data
            postfix.wait_queue_empty()
        assert len(sink.messages) == 1

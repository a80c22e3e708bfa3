"""A gateway for tests: a demo organisation in a real store, the gateway on 127.0.0.1 in a background event
loop, relaying to a test sink; and small SMTP client helpers (smtplib, and raw sockets for protocol abuse)."""

from __future__ import annotations

import asyncio
import email.policy
import ipaddress
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailseal.cms.identity import Identity
from mailseal.gateway.resources import Resources, trust_context
from mailseal.gateway.service import Gateway
from mailseal.gateway.settings import GatewaySettings
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext
from mailseal.policy import Policy
from mailseal.policy.portal_settings import parse_portal
from mailseal.store import Directory, KeyStore, Store
from mailseal.store.lookup import CertificateLookup
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI, User


@dataclass
class Org:
    """example.org (alice RSA, bob EC P-256: keys in the key store) and partner.example (carol RSA with a
    certificate in the directory; dave without one)."""

    pki: TestPKI
    alice: User
    bob: User
    carol: User
    erin: User  # partner.example, RSA, certificate NOT in the directory (signs inbound mail)

    @classmethod
    def make(cls, pki: TestPKI) -> Org:
        return cls(pki, pki.user("gw-alice", email="alice@example.org"),
                   pki.user("gw-bob", "ec-p256", email="bob@example.org"),
                   pki.user("gw-carol", email="carol@partner.example"),
                   pki.user("gw-erin", email="erin@partner.example"))

    def identity(self, user: User) -> Identity:
        return Identity(user.key, user.cert, tuple(user.chain))  # type: ignore[arg-type]

    def populate(self, store: Store) -> KeyStore:
        keys = KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT)
        keys.add(self.identity(self.alice))
        keys.add(self.identity(self.bob))
        Directory(store).add(self.carol.cert, "imported")
        return keys


BASE_SETTINGS: dict[str, Any] = {
    "gateway": {"hostname": "gw.example.org", "accepted_domains": ["example.org"], "workers": 2,
                "relay_timeout_seconds": 10, "timeout_seconds": 30},
    "policy": {"sign": "if-key", "encrypt": "if-possible"},
}


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


class RunningGateway:
    """The gateway on its own event loop in a thread."""

    def __init__(self, org: Org, home: Path, sink: SmtpSink, settings: Mapping[str, Any] | None = None,
                 store_url: str | None = None, next_hop: tuple[str, int] | None = None,
                 lookup: Callable[[Directory], CertificateLookup] | None = None,
                 trust_home: Path | None = None) -> None:
        """``lookup``: the certificate lookup the gateway uses (default: none). ``trust_home``: trust what the
        gateway's own ``trust_context`` finds (the store's trust list, a file list in that data directory taken
        over), instead of the test root alone."""
        hop = next_hop or sink.address
        full = merged(BASE_SETTINGS, {"gateway": {"next_hop": f"{hop[0]}:{hop[1]}", "listen": "127.0.0.1:0",
                                                  "spool_dir": str(home / "spool"),
                                                  "held_dir": str(home / "held")}})
        full = merged(full, settings or {})
        if "portal" in full:  # the portal key in the test's home, never the user's
            full = merged(full, {"portal": {"key_file": str(home / "portal.key"), **full["portal"]}})
        self.settings_dict = full
        self.store = Store.open(store_url or f"sqlite:///{home / 'mailseal.db'}")
        self.keys = org.populate(self.store)
        context = (ValidationContext(trust=TrustStore(anchors=(org.pki.root_cert,))) if trust_home is None
                   else trust_context((), self.store, trust_home))
        policy = Policy.from_settings(full)
        self.gateway = Gateway(GatewaySettings.from_settings(full), policy,
                               Resources(self.store, self.keys, context,
                                         lookup(Directory(self.store)) if lookup is not None else None,
                                         portal=parse_portal(full), post_quantum=policy.smime.post_quantum))
        self.sink = sink
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RunningGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.gateway.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self.store.close()

    @property
    def port(self) -> int:
        return self.gateway.port

    def send(self, message: bytes | EmailMessage, mail_from: str, rcpts: list[str]) -> dict[str, tuple[int, bytes]]:
        data = message.as_bytes(policy=email.policy.SMTP) if isinstance(message, EmailMessage) else message
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            return client.sendmail(mail_from, rcpts, data)


def message(sender: str, to: list[str], subject: str = "hello", body: str = "Hello there.\n", *,
            cc: list[str] | None = None, bcc: list[str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="test.example")
    msg.set_content(body)
    return msg


class RawClient:
    """A line-level SMTP client for abuse tests: send exactly these bytes, read the replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buffer = b""
        self.reply()  # greeting

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, str]:
        lines = []
        deadline = time.monotonic() + 20
        while True:
            while b"\r\n" not in self.buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError("no reply")
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed after {lines!r}")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def command(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def tls_files(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for the gateway's STARTTLS (gw.example.org, 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw.example.org")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("gw.example.org"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "gw.crt", tmp / "gw.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def client_tls() -> ssl.SSLContext:
    """A client context that takes any certificate (the tests check the server's behaviour, not its name)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def to_toml(settings: Mapping[str, Any], prefix: str = "") -> str:
    """Just enough TOML for the test settings (tables of strings, numbers, booleans and lists of strings)."""
    import json

    plain = {k: v for k, v in settings.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in settings.items() if isinstance(v, Mapping)}
    lines = [f"[{prefix}]"] if prefix and plain else []
    for key, value in plain.items():
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        lines.append(f"{key} = {text}")
    out = "\n".join(lines) + "\n" if lines else ""
    for key, table in tables.items():
        name = f'{prefix}."{key}"' if prefix and "." in key else f"{prefix}.{key}" if prefix else key
        out += to_toml(table, name)
    return out

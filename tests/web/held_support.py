"""The Held page's fixtures: a real gateway (tests/gateway/harness.py) whose policy holds mail for partner.example
recipients without a certificate, relaying to a test sink, and the console over the gateway's store with the
running gateway's held messages (as `mailseal serve` gives them)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailseal.cli.held_port import RunningGatewayHeld
from mailseal.store.admins import Admins
from mailseal.web.app import create_app
from mailseal.web.settings import WebSettings
from tests.gateway.harness import Org, RunningGateway, message
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI
from tests.web.conftest import FAST, Clock, Console

#: dave@partner.example has no certificate anywhere; erin's is not in the directory until a test imports it.
HOLD = {"policy": {"domains": {"partner.example": {"encrypt": "require", "on_missing_certificate": "hold"}}}}
DAVE, ERIN = "dave@partner.example", "erin@partner.example"


@dataclass
class Held:
    org: Org
    gw: RunningGateway
    sink: SmtpSink
    console: Console

    def hold(self, rcpts: list[str], subject: str, body: str) -> str:
        """Send a message through the gateway that the policy holds for ``rcpts``; its held id."""
        before = {m.id for m in self.gw.gateway.pipeline.held.list()}
        assert self.gw.send(message("alice@example.org", rcpts, subject, body), "alice@example.org", rcpts) == {}
        [new] = [m.id for m in self.gw.gateway.pipeline.held.list() if m.id not in before]
        return new

    def import_erin(self) -> None:
        from mailseal.store import Directory

        Directory(self.gw.store).add(self.org.erin.cert, "imported")


@pytest.fixture
def held(pki: TestPKI, tmp_path: Path) -> Iterator[Held]:
    org = Org.make(pki)
    home = tmp_path / "gw"
    home.mkdir()
    with SmtpSink() as sink, RunningGateway(org, home, sink, HOLD) as gw:
        key = secrets.token_bytes(32)
        clock = Clock()
        app = create_app(gw.store, WebSettings(), key=key, hasher=FAST, clock=clock, ca_directory=tmp_path / "no-ca",
                         held=RunningGatewayHeld(gw.gateway))
        console = Console(gw.store, app, clock, Admins(gw.store, hasher=FAST, totp_key=key))
        console.add("root", "admin")
        console.add("eve", "auditor")
        yield Held(org, gw, sink, console)

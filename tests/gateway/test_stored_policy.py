"""The gateway uses the policy kept in the store: built by ``gateway.parts.build_resources`` (what `mailseal
serve` does at start and on SIGHUP), a stored change applies at the reload and not before (docs/policy.md)."""

from __future__ import annotations

import asyncio
import email.policy
import smtplib

import pytest

from mailseal.errors import ConfigurationError
from mailseal.gateway.parts import build_resources, check_store
from mailseal.store import stored_policy
from mailseal.store.passphrase import PASSPHRASE_ENV
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import message
from tests.store.conftest import PASSPHRASE
from tests.support.smtp_sink import SmtpSink

DAVE = "dave@partner.example"  # no certificate anywhere


def _send_to_dave(port: int) -> dict[str, tuple[int, bytes]]:
    msg = message("alice@example.org", [DAVE], "figures")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        try:
            return client.sendmail("alice@example.org", [DAVE], msg.as_bytes(policy=email.policy.SMTP))
        except smtplib.SMTPRecipientsRefused as exc:
            return {r: (code, text) for r, (code, text) in exc.recipients.items()}
        except smtplib.SMTPDataError as exc:  # policy decides once the message is in: its one recipient refused
            return {DAVE: (exc.smtp_code, exc.smtp_error)}


def test_a_stored_policy_applies_at_the_reload(start_gateway: StartGateway, sink: SmtpSink,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    gw = start_gateway()
    assert _send_to_dave(gw.port) == {}  # the file's policy: encrypt if possible, so sent signed only
    sink.wait_for(1)
    table = {**gw.settings_dict["policy"], "domains": {"partner.example": {"encrypt": "require"}}}
    stored_policy.save(gw.store, table, actor="test")
    assert _send_to_dave(gw.port) == {}  # stored, but the running gateway keeps its policy until it reloads
    sink.wait_for(2)
    settings, policy, resources = build_resources(gw.settings_dict, gw.store)
    assert policy.domains["partner.example"].encrypt == "require"
    future = asyncio.run_coroutine_threadsafe(gw.gateway.reload(settings, policy, resources, gw.settings_dict),
                                              gw._loop)
    assert future.result(30) == []
    refused = _send_to_dave(gw.port)
    assert refused[DAVE][0] == 550 and b"encryption required" in refused[DAVE][1]
    assert len(sink.messages) == 2


def test_check_config_checks_the_stored_policy(monkeypatch: pytest.MonkeyPatch,
                                               start_gateway: StartGateway) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    gw = start_gateway()
    stored_policy.save(gw.store, {"users": {"ceo@example.org": {"sign": "always"}}})
    url = str(gw.store.engine.url)
    monkeypatch.setenv("MAILSEAL_DB_URL", url)
    assert check_store(gw.settings_dict)["key_store"] == "unlocked"
    # a stored table written without the check (save's check is the caller's) stops `serve --check-config`
    stored_policy.save(gw.store, {"encrypt": "always"})
    with pytest.raises(ConfigurationError, match=r"policy\.encrypt"):
        check_store(gw.settings_dict)

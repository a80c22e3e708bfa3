"""The resource limits (docs/limits.md) in the gateway: a signed message past a limit is delivered with a stamp
that names it (smime=permerror, limit-exceeded), a header past the header limits and a message past
``limits.message_seconds`` are refused with a 5xx; each in bounded time and memory (ru_maxrss, a timer: generous
bounds, not speed)."""

from __future__ import annotations

import email.policy
import resource
import smtplib
import time

import pytest

from mailseal import Identity, api
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, message
from tests.support.smtp_sink import SmtpSink

SECONDS = 60.0
GROWTH_KB = 512 << 10


def _signed(org: Org, body: str = "Signed text.\n") -> bytes:
    erin = Identity(org.erin.key, org.erin.cert, tuple(org.erin.chain))  # type: ignore[arg-type]
    return api.sign(message("erin@partner.example", ["alice@example.org"], "x", body)
                    .as_bytes(policy=email.policy.SMTP), erin)


def test_signed_message_past_a_limit_is_stamped(start_gateway: StartGateway, sink: SmtpSink, org: Org) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "limits": {"max_certificates": 1}})
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    assert gw.send(_signed(org), "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1)
    assert time.monotonic() - start < SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < GROWTH_KB
    assert b"Signed text." in got.data
    [stamp] = got.header("Authentication-Results")
    flat = " ".join(stamp.split())
    assert "smime=permerror" in flat and "limit-exceeded" in flat and "max_certificates" in flat, stamp


@pytest.mark.parametrize(("limits", "expected"), [
    ({"max_header_fields": 3}, b"550 5.7.1"),  # the header cannot be read within the limits: refused
    ({"message_seconds": 1e-9}, b"554 5.3.4"),  # past the time per message: too complex, refused for good
])
def test_limits_refuse_with_5xx(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                limits: dict[str, float], expected: bytes) -> None:
    gw = start_gateway({"gateway": {"trusted_networks": []}, "limits": limits})
    start = time.monotonic()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        gw.send(_signed(org), "erin@partner.example", ["alice@example.org"])
    assert time.monotonic() - start < SECONDS
    code, text = refused.value.smtp_code, refused.value.smtp_error
    assert f"{code} ".encode() + text[:5] == expected, (code, text)
    assert b"limits." in text
    assert sink.messages == []

"""The resource limits (docs/limits.md) in the gateway: a message past a limit in what the gateway verifies or
decrypts is delivered with a stamp that names it (limit-exceeded, limits.NAME), a header past the header limits
and a message past ``limits.message_seconds`` are refused with a 5xx; max_signers is covered by tests/test_limits.py
(mailseal signs with one key); each in bounded time and memory (ru_maxrss, a timer: generous
bounds, not speed)."""

from __future__ import annotations

import email.policy
import resource
import smtplib
import time
from collections.abc import Callable

import pytest

from mailseal import Identity, api
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, message
from tests.support.smtp_sink import SmtpSink

SECONDS = 60.0
GROWTH_KB = 512 << 10


def _signed(org: Org, body: str = "Signed text.\n") -> bytes:
    return api.sign(message("erin@partner.example", ["alice@example.org"], "x", body)
                    .as_bytes(policy=email.policy.SMTP), _erin(org))


def _erin(org: Org) -> Identity:
    return Identity(org.erin.key, org.erin.cert, tuple(org.erin.chain))  # type: ignore[arg-type]


def _parts(count: int) -> str:
    return "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(count)) + "--b--\r\n"


def _with_parts(org: Org, count: int, nested: int = 0) -> bytes:
    """Erin's signed message whose signed content is a multipart with ``count`` parts inside ``nested`` levels."""
    inner = (b"From: erin@partner.example\r\nTo: alice@example.org\r\nSubject: x\r\n"
             b"Content-Type: multipart/mixed; boundary=n0\r\n\r\n")
    for d in range(1, nested + 1):
        inner += b"--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n" % (d - 1, d)
    inner += (b"--n%d\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" % nested + _parts(count).encode()
              + b"--n%d\r\nContent-Type: application/pkcs7-signature\r\n\r\nx\r\n" % nested)
    for d in range(nested, -1, -1):
        inner += b"--n%d--\r\n" % d
    return api.sign(inner, _erin(org))


#: limit -> (its value, the message that exceeds it): each delivered with a stamp naming the limit.
STAMPED: dict[str, tuple[float, Callable[[Org], bytes]]] = {
    "max_layers": (1, lambda org: api.sign(_signed(org), _erin(org))),
    "max_certificates": (1, _signed),
    "max_attributes": (2, _signed),
    "max_expansion": (0.25, lambda org: api.sign(message("erin@partner.example", ["alice@example.org"], "x",
                                                         ("x" * 900 + "\n") * 250).as_bytes(policy=email.policy.SMTP),
                                                 _erin(org), opaque=True)),
    "max_parts": (5, lambda org: _with_parts(org, 20)),
    "max_nesting": (3, lambda org: _with_parts(org, 1, nested=6)),
    "max_recipient_infos": (2, lambda org: api.encrypt(_signed(org), [org.alice.cert, org.bob.cert, org.carol.cert])),
}


@pytest.mark.parametrize("limit", sorted(STAMPED))
def test_message_past_a_limit_is_delivered_with_a_stamp(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                        limit: str) -> None:
    value, make = STAMPED[limit]
    gw = start_gateway({"gateway": {"trusted_networks": []}, "limits": {limit: value}})
    data = make(org)
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    assert gw.send(data, "erin@partner.example", ["alice@example.org"]) == {}
    [got] = sink.wait_for(1, timeout=SECONDS)
    assert time.monotonic() - start < SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < GROWTH_KB
    [stamp] = got.header("Authentication-Results")
    flat = " ".join(stamp.split())
    assert "limit-exceeded" in flat and f"limits.{limit}" in flat, stamp


@pytest.mark.parametrize(("limits", "expected"), [
    ({"max_header_fields": 3}, b"550 5.7.1"),  # the header cannot be read within the limits: refused
    ({"max_header_line": 20}, b"550 5.7.1"),
    ({"max_header_size": 64}, b"550 5.7.1"),
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


def test_past_the_time_per_message_is_deferred_not_refused(start_gateway: StartGateway, sink: SmtpSink,
                                                           org: Org) -> None:
    """limits.message_seconds: a busy machine is as likely a cause as the message, so the sender gets a 4xx and
    tries again (nothing refused for good because of load); nothing is delivered."""
    gw = start_gateway({"gateway": {"trusted_networks": []}, "limits": {"message_seconds": 1e-9}})
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        gw.send(_signed(org), "erin@partner.example", ["alice@example.org"])
    assert deferred.value.smtp_code == 451 and deferred.value.smtp_error.startswith(b"4.3.0")
    assert b"limits.message_seconds" in deferred.value.smtp_error
    assert sink.messages == []

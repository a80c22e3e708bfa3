"""The portal through the running gateway over real sockets (docs/portal.md): SMTP in -> deposit -> one branded
notification per recipient at the sink with no content; no plaintext in the database or the spool; two brands;
the outbox drained (passcode mail signed, reply signed and encrypted to the sender); purge on a schedule."""

from __future__ import annotations

import email.policy
import re
import smtplib
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.pki.truststore import TrustStore
from mailseal.store import KeyStore
from mailseal.store.portal import PortalStore
from mailseal.store.portal_key import portal_key
from mailseal.store.portal_records import PortalState
from tests.gateway.conftest import StartGateway
from tests.gateway.harness import Org, RunningGateway, message
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.smtp_sink import SmtpSink, free_port
from tests.support.testpki import TestPKI

MARKER = "PORTAL-SECRET-4b1d"
LINK = re.compile(rb"https?://[^\s\"<>]+/m/([A-Za-z0-9_-]{43})")
def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid PNG (RFC 2083): the brand's logo in the test."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _portal(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    portal: dict[str, Any] = {"base_url": "https://portal.example.org/", "outbox_poll_seconds": 0.2}
    portal.update(extra)
    return {"policy": {"encrypt": "portal"}, "portal": portal}


def _store(gw: RunningGateway) -> PortalStore:
    return PortalStore(gw.store, portal_key(Path(gw.settings_dict["portal"]["key_file"])))


def _text(data: bytes) -> str:
    """The notification's text and HTML, decoded (quoted-printable or base64 hides nothing from this)."""
    msg = BytesParser(policy=email.policy.default).parsebytes(data)
    parts = [p.get_content() for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html")]
    return "\n".join(parts)


def _trust(org: Org) -> TrustStore:
    return TrustStore(anchors=(org.pki.root_cert,))


def test_notification_has_no_content_and_opens_the_message(start_gateway: StartGateway, sink: SmtpSink, org: Org,
                                                           tmp_path: Path) -> None:
    gw = start_gateway(_portal(tmp_path))
    msg = message("alice@example.org", ["dave@partner.example"], "Quarterly figures", f"The figures {MARKER}\n")
    assert gw.send(msg, "alice@example.org", ["dave@partner.example"]) == {}
    [got] = sink.wait_for(1)
    assert got.rcpt_tos == ["dave@partner.example"] and MARKER.encode() not in got.data
    report = api.verify(got.data, trust=_trust(org))
    assert report.status == "valid" and report.signers[0].emails == ["alice@example.org"]  # signed by the gateway
    opened = api.open(got.data, trust=_trust(org))
    text = _text(opened.message)
    assert MARKER not in text and "Read the message" in text and "alice@example.org" in text
    [token] = set(LINK.findall(opened.message))
    portal = _store(gw)
    link = portal.link(token.decode())
    assert link is not None and link.address == "dave@partner.example" and link.state is PortalState.ACTIVE
    assert MARKER.encode() in portal.open_message(link.message_id, "dave@partner.example")
    # nothing readable in the database (and its WAL) or the spool
    home = Path(gw.settings_dict["gateway"]["spool_dir"]).parent
    files = [p for p in [*home.glob("mailseal.db*"), *(home / "spool").rglob("*")] if p.is_file()]
    assert any(p.name == "mailseal.db" for p in files)
    for path in files:
        assert MARKER.encode() not in path.read_bytes(), path


def test_one_notification_per_recipient_bcc_sees_no_one(start_gateway: StartGateway, sink: SmtpSink,
                                                        tmp_path: Path) -> None:
    gw = start_gateway(_portal(tmp_path))
    msg = message("alice@example.org", ["dave@partner.example", "eve@partner.example"], "Hi", f"x {MARKER}\n",
                  bcc=["frank@partner.example"])
    rcpts = ["dave@partner.example", "eve@partner.example", "frank@partner.example"]
    assert gw.send(msg, "alice@example.org", rcpts) == {}
    got = sink.wait_for(3)
    assert sorted(g.rcpt_tos[0] for g in got) == rcpts and all(len(g.rcpt_tos) == 1 for g in got)
    for g in got:
        me = g.rcpt_tos[0]
        others = [r for r in rcpts if r != me]
        assert all(o.encode() not in g.data for o in others), (me, others)
        assert MARKER.encode() not in g.data
    [info] = _store(gw).list_messages()
    assert {(r.address, r.bcc) for r in info.recipients} == {("dave@partner.example", False),
                                                              ("eve@partner.example", False),
                                                              ("frank@partner.example", True)}
    # the stored message carries no Bcc field
    content = _store(gw).open_message(info.id, "dave@partner.example")
    assert b"frank@partner.example" not in content


def test_encrypt_or_portal(start_gateway: StartGateway, sink: SmtpSink, org: Org, tmp_path: Path) -> None:
    settings = _portal(tmp_path)
    settings["policy"]["encrypt"] = "encrypt-or-portal"
    gw = start_gateway(settings)
    msg = message("alice@example.org", ["carol@partner.example", "dave@partner.example"], "Hi", f"x {MARKER}\n")
    assert gw.send(msg, "alice@example.org", ["carol@partner.example", "dave@partner.example"]) == {}
    got = {g.rcpt_tos[0]: g for g in sink.wait_for(2)}
    assert b"application/pkcs7-mime" in got["carol@partner.example"].data
    opened = api.open(got["dave@partner.example"].data, trust=_trust(org))
    assert LINK.search(opened.message) and MARKER.encode() not in got["dave@partner.example"].data
    assert [m.recipients[0].address for m in _store(gw).list_messages()] == ["dave@partner.example"]


def test_two_brands_two_notifications(start_gateway: StartGateway, sink: SmtpSink, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png(120, 32, (255, 153, 0)))
    settings = _portal(tmp_path, brands={
        "example.org": {"logo": str(logo), "background_colour": "#003366", "read_button_text": "Open securely",
                        "introduction_text": "sent you a message from Example Org."},
        "example.net": {"background_colour": "#aa0000", "read_button_text": "Read it now", "subject": "neutral",
                        "disclaimer": "Example Net disclaimer."}})
    settings["gateway"] = {"accepted_domains": ["example.org", "example.net"]}
    gw = start_gateway(settings)
    gw.send(message("alice@example.org", ["dave@partner.example"], "Org mail", f"{MARKER}\n"), "alice@example.org",
            ["dave@partner.example"])
    gw.send(message("zed@example.net", ["dave@partner.example"], "Net mail", f"{MARKER}\n"), "zed@example.net",
            ["dave@partner.example"])
    got = sink.wait_for(2)
    by = {("org" if b"alice@example.org" in g.data else "net"): g.data for g in got}
    org_msg = BytesParser(policy=email.policy.default).parsebytes(by["org"])
    net_msg = BytesParser(policy=email.policy.default).parsebytes(by["net"])
    org_text, net_text = _text(by["org"]), _text(by["net"])
    assert "#003366" in org_text and "Open securely" in org_text and "cid:" in org_text
    assert "#aa0000" in net_text and "Read it now" in net_text and "Example Net disclaimer." in net_text
    assert "cid:" not in net_text and "<img" not in net_text
    assert [p.get_content_type() for p in org_msg.walk() if p.get_content_maintype() == "image"] == ["image/png"]
    assert org_msg["Subject"] == "Org mail" and net_msg["Subject"] == "You have received a protected message"
    assert MARKER not in org_text + net_text
    shots = _screenshots({"org": org_msg, "net": net_msg}, tmp_path)
    assert all(shot.stat().st_size > 1000 for shot in shots.values())
    assert shots["org"].read_bytes() != shots["net"].read_bytes()


def _screenshots(messages: dict[str, Any], tmp_path: Path) -> dict[str, Path]:
    """Each notification's HTML as a mail client shows it (its cid: logo from the message itself), screenshot in
    Debian's chromium and kept under tmp_path as the branding artifact; no request leaves the page."""
    import base64
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")
    if chromium is None:
        if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
            pytest.fail("chromium not installed (Debian package chromium), and MAILSEAL_REQUIRE_PEERS=1")
        pytest.skip("chromium not installed (Debian package chromium)")
    requests: list[str] = []
    shots = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            for name, msg in messages.items():
                body = msg.get_body(("html",))
                page_html = body.get_content()
                for part in msg.walk():
                    if part.get_content_maintype() == "image" and part["Content-ID"]:
                        cid = part["Content-ID"].strip("<>")
                        data = base64.b64encode(part.get_content()).decode()
                        page_html = page_html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
                page = browser.new_page(viewport={"width": 1280, "height": 700})
                page.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
                page.set_content(page_html)
                shots[name] = tmp_path / f"notification-{name}.png"
                page.screenshot(path=str(shots[name]), full_page=True)
                page.close()
        finally:
            browser.close()
    assert [u for u in requests if not u.startswith("data:")] == []
    return shots


def test_outbox_drain_signs_passcode_and_signs_and_encrypts_a_reply(start_gateway: StartGateway, sink: SmtpSink,
                                                                   org: Org, pki: TestPKI, tmp_path: Path) -> None:
    gw = start_gateway(_portal(tmp_path, sender="portal@example.org"))
    agent = pki.user("gw-portal", email="portal@example.org")
    KeyStore(gw.store, PASSPHRASE, scrypt=FAST_SCRYPT).add(Identity(agent.key, agent.cert, tuple(agent.chain)))  # type: ignore[arg-type]
    portal = _store(gw)
    portal.queue("passcode", "portal@example.org", ["dave@partner.example"],
                 b"From: portal@example.org\r\nTo: dave@partner.example\r\nSubject: Your code\r\n\r\n"
                 b"Your code is 12345678 (reference ABCDEF).\r\n")
    reply = (b"From: dave@partner.example\r\nTo: alice@example.org\r\nSubject: Re: Quarterly\r\n"
             b"In-Reply-To: <q1@example.org>\r\nReferences: <q1@example.org>\r\n\r\n" + MARKER.encode() + b"\r\n")
    portal.queue("reply", "portal@example.org", ["alice@example.org"], reply)
    got = {g.rcpt_tos[0]: g for g in sink.wait_for(2, timeout=20)}
    code = api.verify(got["dave@partner.example"].data, trust=_trust(org))
    assert code.status == "valid" and code.signers[0].emails == ["portal@example.org"]
    sealed = got["alice@example.org"].data
    assert MARKER.encode() not in sealed and b"application/pkcs7-mime" in sealed
    alice = Identity(org.alice.key, org.alice.cert, tuple(org.alice.chain))  # type: ignore[arg-type]
    opened = api.open(sealed, [alice], trust=_trust(org))
    assert opened.report.encrypted and opened.report.status == "valid"
    assert opened.report.signers[0].emails == ["portal@example.org"]
    inner = BytesParser(policy=email.policy.default).parsebytes(opened.message)
    assert inner["Reply-To"] == "dave@partner.example" and inner["In-Reply-To"] == "<q1@example.org>"
    assert MARKER.encode() in opened.message
    deadline = time.monotonic() + 10
    while portal.outbox_counts() != {"sent": 2} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert portal.outbox_counts() == {"sent": 2}


def test_outbox_mail_the_next_hop_refuses_for_now_stays_queued(start_gateway: StartGateway,
                                                               tmp_path: Path) -> None:
    gw = start_gateway(_portal(tmp_path), next_hop=("127.0.0.1", free_port()))
    portal = _store(gw)
    portal.queue("passcode", "portal@example.org", ["dave@partner.example"], b"Subject: c\r\n\r\n1\r\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        shown = portal.outbox_counts()
        if shown.get("queued") == 1:
            break
        time.sleep(0.2)
    assert portal.outbox_counts() == {"queued": 1}


def test_deposit_then_next_hop_down_is_4xx(start_gateway: StartGateway, tmp_path: Path) -> None:
    gw = start_gateway(_portal(tmp_path), next_hop=("127.0.0.1", free_port()))
    with pytest.raises(smtplib.SMTPDataError) as info:
        gw.send(message("alice@example.org", ["dave@partner.example"], "x", "y\n"), "alice@example.org",
                ["dave@partner.example"])
    assert 400 <= info.value.smtp_code < 500


def test_purge_runs_on_a_schedule(start_gateway: StartGateway, org: Org, tmp_path: Path, sink: SmtpSink) -> None:
    gw = start_gateway(_portal(tmp_path, purge_interval_seconds=0.2))
    portal = _store(gw)
    old = portal.deposit(b"Subject: old\r\n\r\nold\r\n", "alice@example.org", ["dave@partner.example"],
                         brand="example.org", expiry_days=1, now=datetime.now(UTC) - timedelta(days=3)).id
    deadline = time.monotonic() + 15
    while portal.show(old).state is not PortalState.PURGED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert portal.show(old).state is PortalState.PURGED
    assert any(a.action == "portal.purge" for a in portal.show(old).accesses)


def test_notification_of_a_sender_without_a_key_is_signed_by_the_portal(start_gateway: StartGateway,
                                                                        sink: SmtpSink, org: Org, pki: TestPKI,
                                                                        tmp_path: Path) -> None:
    settings = _portal(tmp_path, sender="portal@example.org")
    settings["gateway"] = {"accepted_domains": ["example.org", "example.net"]}
    gw = start_gateway(settings)
    agent = pki.user("gw-portal", email="portal@example.org")
    KeyStore(gw.store, PASSPHRASE, scrypt=FAST_SCRYPT).add(Identity(agent.key, agent.cert, tuple(agent.chain)))  # type: ignore[arg-type]
    gw.send(message("zed@example.net", ["dave@partner.example"], "Hi", f"{MARKER}\n"), "zed@example.net",
            ["dave@partner.example"])
    [got] = sink.wait_for(1)
    report = api.verify(got.data, trust=_trust(org))
    assert report.status == "valid" and report.signers[0].emails == ["portal@example.org"]
    inner = BytesParser(policy=email.policy.default).parsebytes(api.open(got.data, trust=_trust(org)).message)
    assert "portal@example.org" in inner["From"] and inner["Reply-To"] == "zed@example.net"
    assert MARKER.encode() not in got.data

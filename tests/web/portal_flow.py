"""The portal app over a store with messages deposited in it, a clock the test moves, and the steps a reader takes
(link, ask for a code, read it from the outbox, give it back) as small functions the portal tests share."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

from starlette.testclient import TestClient

from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.web.portal_app import create_portal_app
from tests.web.conftest import Clock
from tests.web.portal_support import MARKER

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REFERENCE = re.compile(r'id="reference">([A-Z0-9]+)<')
CODE = re.compile(r"passcode is (\d{6,8})\b")
SENDER = "alice@example.org"
BOB = "bob@outside.example"
CAROL = "carol@elsewhere.example"
DAVE = "dave@example.org"  # inside the sender's organisation, got the original directly


def original(subject: str = "Quarterly figures", marker: str = MARKER) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Alice <{SENDER}>"
    msg["To"] = f"{BOB}, {CAROL}"
    msg["Cc"] = DAVE
    msg["Subject"] = subject
    msg["Message-ID"] = "<orig-1@example.org>"
    msg.set_content(f"{marker}: the figures are attached.\n")
    msg.add_attachment(b"col1,col2\n1,2\n", maintype="text", subtype="csv", filename="figures.csv")
    return msg.as_bytes()


@dataclass
class Flow:
    store: Store
    messages: PortalStore
    clock: Clock
    app: object
    message_id: str
    tokens: dict[str, str]

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)  # type: ignore[arg-type]

    def deposit(self, recipients: list[str], **kwargs: object) -> tuple[str, dict[str, str]]:
        made = self.messages.deposit(original(), SENDER, recipients, brand="example.org", now=self.clock.now,
                                     **kwargs)  # type: ignore[arg-type]
        return made.id, made.tokens

    def outbox(self, kind: str | None = None) -> list[tuple[str, tuple[str, ...], bytes]]:
        """What is queued (claimed and marked sent, as the gateway would: each item is returned once)."""
        items = self.messages.claim("test", self.clock.now, limit=100)
        for item in items:
            assert self.messages.mark_sent(item.id, "test", self.clock.now)
        return [(i.kind, i.recipients, i.content) for i in items if kind is None or i.kind == kind]


def csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, page[:500]
    return found.group(1)


def ask(client: TestClient, token: str, address: str) -> object:
    landing = client.get(f"/m/{token}")
    assert landing.status_code == 200, landing.text[:300]
    return client.post(f"/m/{token}/code", data={"address": address, "csrf_token": csrf(landing.text)})


def code_in(mail: bytes) -> str:
    parsed = email.message_from_bytes(mail, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    found = CODE.search(body.get_content())
    assert found is not None
    return found.group(1)


def give(client: TestClient, token: str, address: str, code: str) -> object:
    form = client.get(f"/m/{token}")
    if form.status_code == 303:  # signed in already: the message page has the same token
        form = client.get(form.headers["location"])
    return client.post(f"/m/{token}/open", data={"address": address, "code": code, "csrf_token": csrf(form.text)})


def sign_in(flow: Flow, client: TestClient, token: str, address: str) -> str:
    """Ask, read the code from the outbox, give it: the message id the reader lands on."""
    asked = ask(client, token, address)
    assert asked.status_code == 200  # type: ignore[attr-defined]
    [(_, _, mail)] = flow.outbox("passcode")
    opened = give(client, token, address, code_in(mail))
    assert opened.status_code == 303, opened.text[:300]  # type: ignore[attr-defined]
    location = opened.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith("/read/")
    return str(location[len("/read/"):])


def make_flow(url: str) -> Iterator[Flow]:
    store = Store.open(url)
    key = secrets.token_bytes(32)
    clock = Clock()
    app = create_portal_app(store, key=key, clock=clock)
    app.state.portal.answer_floor = 0  # the tests here count answers, not time (tests never assert timings)
    messages = PortalStore(store, key)
    made = messages.deposit(original(), SENDER, [BOB, CAROL], brand="example.org", now=clock.now)
    try:
        yield Flow(store, messages, clock, app, made.id, made.tokens)
    finally:
        store.close()

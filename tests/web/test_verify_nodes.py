"""Verification on two console nodes over one store (SQLite and PostgreSQL): the trust list and the audit log are
the store's, and a download link made on one node is served by the other (the links carry their bytes, sealed with
the shared console key); a node with another console key refuses it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailseal.store import Store
from mailseal.store.admins import Admins
from mailseal.store.audit import events
from mailseal.web.app import create_app
from mailseal.web.service_verify import ACTION
from mailseal.web.sessions import COOKIE
from mailseal.web.settings import WebSettings
from tests.store.conftest import store_url
from tests.support.postgres import postgres_url
from tests.support.testpki import TestPKI
from tests.web.conftest import FAST, Clock, Console, csrf_of
from tests.web.verify_support import messages, trust_test_root

__all__ = ["postgres_url", "store_url"]


@pytest.fixture
def nodes(store_url: str, tmp_path: Path) -> Iterator[tuple[Console, Console, Console]]:
    """Two nodes sharing a console key file, and a third with its own."""
    key, clock = secrets.token_bytes(32), Clock()
    shared, own = tmp_path / "console.key", tmp_path / "other.key"
    shared.write_text(secrets.token_hex(32) + "\n")
    own.write_text(secrets.token_hex(32) + "\n")
    stores = [Store.open(store_url) for _ in range(3)]
    try:
        yield tuple(Console(s, create_app(s, WebSettings(key_file=file), key=key, hasher=FAST, clock=clock,
                                          ca_directory=Path("/nonexistent")),
                            clock, Admins(s, hasher=FAST, totp_key=key))
                    for s, file in zip(stores, (shared, shared, own), strict=True))  # type: ignore[misc]
    finally:
        for s in stores:
            s.close()


def test_a_link_made_on_one_node_downloads_on_another(nodes: tuple[Console, Console, Console],
                                                      pki: TestPKI) -> None:
    one, two, stranger = nodes
    trust_test_root(one.store, pki)
    one.add("root")
    first = one.login("root")
    answer = first.post("/verify", data={"csrf_token": csrf_of(first)},
                        files={"file": ("m.eml", messages(pki).valid, "message/rfc822")})
    assert answer.status_code == 200 and "Valid, revocation unknown" in answer.text
    link = re.findall(r'href="(/verify/download/[^"]+)" download>Download certificate', answer.text)[0]
    cookie = str(first.cookies.get(COOKIE))
    second, third = two.client(), stranger.client()
    second.cookies.set(COOKIE, cookie)
    third.cookies.set(COOKIE, cookie)
    served = second.get(link)
    assert served.status_code == 200 and served.content.startswith(b"-----BEGIN CERTIFICATE-----")
    assert served.content == first.get(link).content
    refused = third.get(link)
    assert refused.status_code == 400 and "not valid" in refused.text
    recorded = events(two.store, ACTION)
    assert [(e.subject, e.detail["verdict"]) for e in recorded] == [("<t1@example.org>", "valid")]

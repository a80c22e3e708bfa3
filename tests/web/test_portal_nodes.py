"""Two portal nodes over one store (SQLite and PostgreSQL): a code asked for on one node is taken on the other, the
session it opens reads on both, and a rate limit counted on one holds on the other (nothing in one process)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mailseal.store import Store
from mailseal.store.portal import PortalStore
from mailseal.web.portal_app import create_portal_app
from mailseal.web.portal_link import ASK_PER_ADDRESS
from tests.store.conftest import store_url
from tests.support.postgres import postgres_url
from tests.web.conftest import Clock
from tests.web.portal_flow import BOB, SENDER, code_in, csrf, original
from tests.web.portal_support import MARKER

__all__ = ["postgres_url", "store_url"]


@pytest.fixture
def nodes(store_url: str) -> Iterator[tuple[TestClient, TestClient, PortalStore, dict[str, str]]]:
    key, clock = secrets.token_bytes(32), Clock()
    stores = [Store.open(store_url), Store.open(store_url)]
    try:
        messages = PortalStore(stores[0], key)
        tokens = messages.deposit(original(), SENDER, [BOB], brand="example.org", now=clock.now).tokens
        one, two = (TestClient(create_portal_app(s, key=key, clock=clock), base_url="https://testserver",
                               follow_redirects=False) for s in stores)
        yield one, two, messages, tokens
    finally:
        for s in stores:
            s.close()


def test_any_node_serves_any_step(nodes: tuple[TestClient, TestClient, PortalStore, dict[str, str]]) -> None:
    one, two, messages, tokens = nodes
    token = tokens[BOB]
    landing = one.get(f"/m/{token}")
    assert one.post(f"/m/{token}/code", data={"address": BOB, "csrf_token": csrf(landing.text)}).status_code == 200
    [item] = messages.claim("test")
    two.cookies.update(one.cookies)  # the same browser, its next request balanced to the other node
    opened = two.post(f"/m/{token}/open", data={"address": BOB, "code": code_in(item.content),
                                                "csrf_token": csrf(landing.text)})
    assert opened.status_code == 303
    one.cookies.update(two.cookies)
    for node in (one, two):
        page = node.get(opened.headers["location"])
        assert page.status_code == 200 and MARKER in page.text


def test_a_rate_limit_holds_on_every_node(nodes: tuple[TestClient, TestClient, PortalStore, dict[str, str]]) -> None:
    one, two, _, tokens = nodes
    token = tokens[BOB]
    statuses = []
    for i in range(ASK_PER_ADDRESS[0] + 1):
        node = (one, two)[i % 2]
        landing = node.get(f"/m/{token}")
        statuses.append(node.post(f"/m/{token}/code", data={"address": BOB,
                                                             "csrf_token": csrf(landing.text)}).status_code)
    assert statuses[:-1] == [200] * ASK_PER_ADDRESS[0] and statuses[-1] == 429

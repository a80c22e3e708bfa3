"""The dashboard and the audit log, on SQLite and PostgreSQL: the page and the API show the same numbers (one
service function), filters and pages, the CSV export; the accounts and sessions pages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mailseal.store import audit
from mailseal.web import service
from tests.store.conftest import store_url
from tests.support.postgres import postgres_url
from tests.support.testpki import TestPKI
from tests.web.conftest import Console, csrf_of, make_console

__all__ = ["postgres_url", "store_url"]


@pytest.fixture
def both(store_url: str, tmp_path: Path) -> Iterator[Console]:
    """The console over an empty store on each backend (ids sqlite / postgresql)."""
    yield from make_console(store_url, tmp_path)


def _message(console: Console, minutes_ago: float, result: str, actions: list[str], held: int = 0,
             reason: str | None = None, msgid: str = "<m@example.org>") -> None:
    detail = {"from": "alice@example.org", "to": ["carol@partner.example"], "result": result, "actions": actions,
              "held": held, **({"reason": reason} if reason else {})}
    with console.store.session() as session:
        audit.record(session, "gateway.message", msgid, detail, "gateway")
    # the record's time is now: move it back by rewriting through the same table (the store's own clock)
    from sqlalchemy import update

    from mailseal.store.tables import audit_log

    with console.store.session() as session:
        newest = max(e.id for e in audit.events(console.store))
        session.execute(update(audit_log).where(audit_log.c.id == newest)
                        .values(time=console.clock.now - timedelta(minutes=minutes_ago)))


def _fill(console: Console) -> None:
    _message(console, 10, "accepted", ["encrypted", "signed"])
    _message(console, 30, "accepted", ["verified:valid"], held=1)
    _message(console, 120, "refused", [], reason="no certificate for carol@partner.example", msgid="<bad@x>")
    _message(console, 60 * 24 * 3, "accepted", ["decrypted", "verified:bad-signature"])
    _message(console, 60 * 24 * 40, "accepted", ["signed"])  # older than 30 days: not counted


def test_dashboard_counts_page_and_api_agree(both: Console) -> None:
    both.add("root")
    c = both.login("root")
    _fill(both)
    data = c.get("/api/v1/dashboard").json()
    counts = {w["label"]: w["counts"] for w in data["windows"]}
    assert counts["last hour"]["signed"] == 1 and counts["last hour"]["encrypted"] == 1
    assert counts["last hour"]["held"] == 1 and counts["last hour"]["verified: valid"] == 1
    assert counts["last hour"]["refused"] == 0 and counts["last day"]["refused"] == 1
    assert counts["last 30 days"]["accepted"] == 3 and counts["last 30 days"]["verified: failed"] == 1
    assert counts["last 30 days"]["signed"] == 1  # the 40-day-old one is not counted
    assert [f["reason"] for f in data["failures"]] == ["no certificate for carol@partner.example"]
    page = c.get("/").text
    assert page.count("<svg") == 3 and 'role="img"' in page
    assert "no certificate for carol@partner.example" in page and "✗ refused" in page


def test_dashboard_lists_what_expires(console: Console, pki: TestPKI) -> None:
    from mailseal.store.directory import Directory

    now = console.clock.now
    soon = pki.user("soon", email="soon@partner.example", not_before=now - timedelta(days=300),
                    not_after=now + timedelta(days=10))
    later = pki.user("later", email="later@partner.example", not_before=now - timedelta(days=1),
                     not_after=now + timedelta(days=200))
    for user in (soon, later):
        Directory(console.store).add(user.cert, "imported", actor="test")
    data = service.dashboard(console.store, now, ca_directory=Path("/nonexistent"))
    assert [(i["kind"], i["name"], i["days_left"]) for i in data.expiring] == [
        ("directory", "soon@partner.example", 10)]


def test_audit_filters_pages_and_csv(both: Console) -> None:
    both.add("root")
    both.add("eve", "auditor")
    c = both.login("root")
    _fill(both)
    everything = c.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    assert len(everything) >= 8
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    first = c.get("/api/v1/audit", params={"limit": 3}).json()
    second = c.get("/api/v1/audit", params={"limit": 3, "offset": first["next_offset"]}).json()
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything[:6]]
    admins = c.get("/api/v1/audit", params={"action": "admins.add"}).json()["items"]
    assert sorted(e["subject"] for e in admins) == ["eve", "root"]
    assert c.get("/api/v1/audit", params={"subject": "<bad@x>"}).json()["items"][0]["detail"]["result"] == "refused"
    since = (both.clock.now - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M")
    recent = c.get("/api/v1/audit", params={"since": since, "action": "gateway.message"}).json()["items"]
    assert len(recent) == 2
    assert c.get("/api/v1/audit", params={"actor": "test"}).json()["next_offset"] is None
    page = c.get("/audit", params={"action": "gateway.message", "limit": 2}).text
    assert page.count("gateway.message</td>") == 2 and "Older →" in page
    exported = c.get("/audit/export.csv", params={"action": "gateway.message"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == list(service.CSV_COLUMNS) and len(rows) == 6
    assert c.get("/api/v1/audit/export", params={"action": "admins"}).text.count("admins.add") == 2


def test_csv_cells_cannot_run_as_formulas(console: Console) -> None:
    with console.store.session() as session:
        audit.record(session, "test.x", "=HYPERLINK(\"http://evil\")", {}, "test")
    rows = list(csv.reader(io.StringIO("".join(service.audit_csv(console.store, audit.AuditQuery())))))
    assert rows[1][4].startswith("'=")


def test_accounts_page_add_and_remove(console: Console, root: TestClient) -> None:
    page = root.get("/admins").text
    assert "eve" in page and "auditor" in page and "Add an account" in page
    token = csrf_of(root)
    added = root.post("/admins", data={"name": "bob", "role": "admin", "password": "", "csrf_token": token})
    assert added.status_code == 200 and 'id="new-password"' in added.text
    assert root.post("/admins/bob/remove", data={"csrf_token": token}).status_code == 303
    assert console.admins.get("bob") is None
    itself = root.post("/admins/root/remove", data={"csrf_token": token})
    assert itself.status_code == 400 and console.admins.get("root") is not None
    eve = console.login("eve")
    assert "Add an account" not in eve.get("/admins").text  # an auditor is shown no forms


def test_sessions_page_and_ending_one(console: Console, root: TestClient) -> None:
    eve = console.login("eve")
    page = root.get("/sessions").text
    assert "(this one)" in page and "eve" in page
    key = next(s.key for s in console.app.state.console.sessions.list() if s.account == "eve")
    assert root.post(f"/sessions/{key}/end", data={"csrf_token": csrf_of(root)}).status_code == 303
    assert eve.get("/").status_code == 303 and root.get("/").status_code == 200
    assert "root" not in console.login("eve").get("/sessions").text.split("<tbody>")[1]  # an auditor sees theirs

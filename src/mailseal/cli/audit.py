"""`mailseal audit list|show|export`: read the store's audit log (the gateway's messages, administrators' changes)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from ..errors import UsageError
from .common import handle_errors, print_json
from .timespec import parse_moment

if TYPE_CHECKING:
    from ..store.audit import AuditQuery, Event
    from ..store.database import Store

F = TypeVar("F", bound=Callable[..., Any])
RESULTS = ("accepted", "refused", "deferred")
CSV_COLUMNS = ["id", "time", "actor", "action", "subject", "from", "to", "result", "reply", "actions", "detail"]


def _filters(func: F) -> F:
    """The options `list` and `export` share: each one given narrows the selection."""
    options = [
        click.option("--since", metavar="WHEN", help="From this time on: ISO 8601 (2026-12-01, 2026-12-01T08:00, "
                     "UTC unless a zone is given) or an age such as 30m, 2h, 7d."),
        click.option("--until", metavar="WHEN", help="Before this time (same forms as --since)."),
        click.option("--action", metavar="ACTION", help="The event's action (gateway.message, keys.import, ...) "
                     "or its first part (keys, users, gateway)."),
        click.option("--actor", metavar="ACTOR", help="Who acted: gateway, cli:USER, ..."),
        click.option("--subject", metavar="SUBJECT", help="The event's subject (a message's Message-ID, an "
                     "address, a fingerprint)."),
        click.option("--from", "sender", metavar="ADDR", help="Messages with this envelope sender."),
        click.option("--to", "recipient", metavar="ADDR", help="Messages with this envelope recipient."),
        click.option("--result", type=click.Choice(RESULTS), help="Messages with this result."),
        click.option("--did", metavar="ACTION", help="Messages the gateway did this to: signed, encrypted, "
                     "decrypted, verified (or verified:STATUS), relayed, ..."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _query(since: str | None, until: str | None, action: str | None, actor: str | None, subject: str | None,
           sender: str | None, recipient: str | None, result: str | None, did: str | None) -> AuditQuery:
    from ..store.audit import AuditQuery

    start = parse_moment(since, what="--since") if since else None
    end = parse_moment(until, what="--until") if until else None
    if start is not None and end is not None and end <= start:
        raise UsageError("--until must be later than --since")
    return AuditQuery(since=start, until=end, action=action, actor=actor, subject=subject, sender=sender,
                      recipient=recipient, result=result, did=did)


def _store() -> Store:
    from ..config import data_dir
    from .policy import open_store_read_only

    store = open_store_read_only()
    if store is None:
        raise UsageError(f"no store in {data_dir()}: nothing has been audited there (set --home or $MAILSEAL_DB_URL)")
    return store


def _time(event: Event) -> str:
    return event.time.strftime("%Y-%m-%dT%H:%M:%SZ")


def _to(event: Event) -> str:
    recipients = event.recipients
    if not recipients:
        return "-" if event.action != "gateway.message" else f"({event.detail.get('recipients', '?')})"
    return recipients[0] + (f" +{len(recipients) - 1}" if len(recipients) > 1 else "")


def _row(event: Event) -> list[str]:
    return [str(event.id), _time(event), event.actor, event.action, event.result or "-", event.sender or "-",
            _to(event), ",".join(event.message_actions) or "-", event.subject]


@click.group("audit")
def audit_group() -> None:
    """Read the audit log: one event per gateway message and per change to the store (docs/monitoring.md)."""


@audit_group.command("list")
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show the newest N matching events (oldest first).")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@handle_errors
def list_cmd(since: str | None, until: str | None, action: str | None, actor: str | None, subject: str | None,
             sender: str | None, recipient: str | None, result: str | None, did: str | None, limit: int,
             as_json: bool) -> None:
    """The newest events that match, as a table (the newest last)."""
    from ..store.audit import search

    query = _query(since, until, action, actor, subject, sender, recipient, result, did)
    store = _store()
    try:
        found = search(store, query, limit)
    finally:
        store.close()
    if as_json:
        print_json({"events": [e.to_dict() for e in found]})
        return
    if not found:
        click.echo("no audit events match")
        return
    from .render import table

    click.echo(table(["ID", "TIME", "ACTOR", "ACTION", "RESULT", "FROM", "TO", "DID", "SUBJECT"],
                     [_row(e) for e in found]))


@audit_group.command("show")
@click.argument("event_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the event as JSON.")
@handle_errors
def show_cmd(event_id: int, as_json: bool) -> None:
    """One event, with every field of its record."""
    from ..store.audit import get

    store = _store()
    try:
        event = get(store, event_id)
    finally:
        store.close()
    if event is None:
        raise UsageError(f"no audit event {event_id} (mailseal audit list shows the ids)")
    if as_json:
        print_json(event.to_dict())
        return
    from .render import _tree

    head = {"id": event.id, "time": event.time.isoformat().replace("+00:00", "Z"), "actor": event.actor,
            "action": event.action, "subject": event.subject}
    click.echo("\n".join(_tree({**head, "detail": event.detail}, 0)))


def _csv_line(values: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)  # RFC 4180 line ends
    return buffer.getvalue().encode()


def _csv_values(event: Event) -> list[str]:
    detail = event.detail
    return [str(event.id), event.time.isoformat().replace("+00:00", "Z"), event.actor, event.action, event.subject,
            event.sender or "", " ".join(event.recipients), event.result or "", str(detail.get("reply", "")),
            " ".join(event.message_actions), json.dumps(detail, sort_keys=True, ensure_ascii=False)]


def _write(sink: BinaryIO, events: Iterable[Event], fmt: str) -> int:
    count = 0
    if fmt == "csv":
        sink.write(_csv_line(CSV_COLUMNS))
    elif fmt == "json":
        sink.write(b"[")
    for event in events:
        line = json.dumps(event.to_dict(), ensure_ascii=False).encode()
        if fmt == "csv":
            sink.write(_csv_line(_csv_values(event)))
        elif fmt == "json":
            sink.write((b",\n" if count else b"\n") + line)
        else:
            sink.write(line + b"\n")
        count += 1
    if fmt == "json":
        sink.write(b"\n]\n" if count else b"]\n")
    return count


@audit_group.command("export")
@_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="jsonl", show_default=True,
              help="csv (one row per event, the detail as JSON in the last column), json (one array) or jsonl "
                   "(JSON Lines: one object per line).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N matching events.")
@click.option("-o", "--out", "outfile", metavar="FILE", help="Write here (mode 0600; default: stdout).")
@handle_errors
def export_cmd(since: str | None, until: str | None, action: str | None, actor: str | None, subject: str | None,
               sender: str | None, recipient: str | None, result: str | None, did: str | None, fmt: str,
               limit: int | None, outfile: str | None) -> None:
    """Every matching event, oldest first, read and written a page at a time."""
    from ..store.audit import scan, search
    from .streams import output_stream

    query = _query(since, until, action, actor, subject, sender, recipient, result, did)
    store = _store()
    try:
        selected = search(store, query, limit) if limit is not None else scan(store, query)
        # The records name senders and recipients: a file is private to its owner, as a key export is.
        with output_stream(outfile, private=True) as sink:
            count = _write(sink, selected, fmt)
    finally:
        store.close()
    quiet = bool(click.get_current_context().find_root().params.get("quiet"))
    if outfile and outfile != "-" and not quiet:
        click.echo(f"exported {count} event(s) to {outfile}", err=True)


__all__ = ["audit_group"]

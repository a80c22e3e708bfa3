"""The `mailseal store` command group: the store database's schema (Alembic revisions) and its upgrade."""

from __future__ import annotations

from typing import Any

import click

from .common import handle_errors, print_json


@click.group("store")
def store_group() -> None:
    """The store database's schema: its revision (status) and the explicit upgrade (docs/operations.md)."""


@store_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def status_cmd(as_json: bool) -> None:
    """The store's schema revision and the newest this mailseal knows. Exit 0 when it is current, 1 when it is
    older (run `mailseal store upgrade`), newer, or not created yet. Nothing is created or changed."""
    from ..store.database import HEAD_REVISION, display_url, existing_database_url, inspect_schema, pending_revisions

    url = existing_database_url()
    facts: dict[str, Any]
    if url is None:
        facts = {"url": None, "revision": None, "head": HEAD_REVISION, "state": "absent", "pending": []}
    else:
        state = inspect_schema(url)
        facts = {"url": display_url(url), **state.to_dict(), "pending": list(pending_revisions(state))}
    if as_json:
        print_json(facts)
    else:
        advice = {
            "current": "current",
            "absent": "no store yet (the first command that needs it creates it at the newest revision)",
            "empty": "empty (the first command that needs it creates the schema)",
            "behind": f"older: back it up (`mailseal backup -o FILE`), then run `mailseal store upgrade` "
                      f"(pending: {', '.join(facts['pending'])})",
            "ahead": "newer than this mailseal knows: a newer version upgraded it; run that version here too",
        }[str(facts["state"])]
        click.echo(f"store: {facts['url'] or '(none)'}\nrevision: {facts['revision'] or '-'}\n"
                   f"head: {facts['head']}\nstate: {advice}")
    if facts["state"] != "current":
        raise SystemExit(1)


@store_group.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def upgrade_cmd(as_json: bool) -> None:
    """Run the store's migrations up to the newest revision (creating the schema when the database is empty).
    Back the store up first; with several gateway nodes on one database, one node runs this (docs/operations.md)."""
    from ..store.database import database_url, display_url, upgrade_schema

    url = database_url()
    before, after = upgrade_schema(url)
    facts = {"url": display_url(url), "from": before.current, "to": after.current,
             "changed": before.current != after.current}
    if as_json:
        print_json(facts)
    elif not facts["changed"]:
        click.echo(f"store {facts['url']} is already at revision {after.current}")
    elif before.current is None:
        click.echo(f"store {facts['url']} created at revision {after.current}")
    else:
        click.echo(f"store {facts['url']} upgraded from revision {before.current} to {after.current}")

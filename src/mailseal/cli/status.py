"""`mailseal status`: which data directory a command uses and what is in it (settings, store, trust list, CA)."""

from __future__ import annotations

import os
from typing import Any

import click

from .common import handle_errors, print_json

#: Set in the root context's ``meta`` by the ``--home`` option (cli/main.py), so that status can say so.
HOME_OPTION = "--home"


def _store_facts() -> dict[str, Any]:
    """The store's URL (password hidden) and what it holds; nothing is created when there is no store yet."""
    from sqlalchemy.engine import make_url

    from ..config import data_dir
    from ..store.database import DB_URL_ENV, SQLITE_FILE
    from .policy import open_store_read_only

    # The rule of store.database.database_url(), which would create the data directory: status only looks.
    url = os.environ.get(DB_URL_ENV) or f"sqlite:///{data_dir() / SQLITE_FILE}"
    facts: dict[str, Any] = {"url": make_url(url).render_as_string(hide_password=True), "exists": False,
                             "keys": 0, "certificates": 0, "trust_anchors": 0, "trust_intermediates": 0}
    try:
        store = open_store_read_only()
    except Exception as exc:  # an unreachable or damaged database is a fact to report, not a crash
        facts["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return facts
    if store is None:
        return facts
    from ..store.directory import Directory
    from ..store.keystore import KeyStore
    from ..store.trust import StoredTrust

    try:
        facts["exists"] = True
        facts["keys"] = len(KeyStore(store).list())
        facts["certificates"] = len(Directory(store).entries())
        stored = StoredTrust(store).entries()
        facts["trust_anchors"] = sum(1 for e in stored if e.kind == "anchor")
        facts["trust_intermediates"] = len(stored) - facts["trust_anchors"]
    except Exception as exc:  # e.g. a store whose schema was never created: report it, as above
        facts["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        store.close()
    return facts


def status() -> dict[str, Any]:
    """Everything `mailseal status` prints, as one dictionary (the ``--json`` output)."""
    from ..config import data_dir, home_source, settings_path
    from ..pki import trustlist
    from ..pki.authority import default_directory

    home = data_dir()
    settings = settings_path()
    listed = trustlist.entries()
    anchors = sum(1 for e in listed if e.kind == "anchor")
    ca = default_directory()
    return {
        "home": str(home),
        "home_from": HOME_OPTION if click.get_current_context().find_root().meta.get(HOME_OPTION) else home_source(),
        "home_exists": home.is_dir(),
        "settings": {"path": str(settings), "exists": settings.is_file()},
        "store": _store_facts(),
        "trust_list": {"path": str(trustlist.trust_dir()), "anchors": anchors, "intermediates": len(listed) - anchors},
        "ca": {"path": str(ca), "exists": (ca / "ca.pem").is_file()},
    }


def _present(exists: bool) -> str:
    return "" if exists else " (absent)"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@handle_errors
def status_cmd(as_json: bool) -> None:
    """Show the data directory in use (--home, $MAILSEAL_HOME or the default) and what it holds."""
    facts = status()
    if as_json:
        print_json(facts)
    else:
        store = facts["store"]
        if "error" in store:
            held = f" (cannot open: {store['error']})"
        elif not store["exists"]:
            held = " (not created yet)"
        else:
            held = ""
        trust = facts["trust_list"]
        lines = [
            f"home: {facts['home']} (from {facts['home_from']}){_present(facts['home_exists'])}",
            f"settings: {facts['settings']['path']}{_present(facts['settings']['exists'])}",
            f"store: {store['url']}{held}",
            f"keys: {store['keys']}",
            f"certificates: {store['certificates']}",
            f"trust anchors: {trust['anchors']} in {trust['path']}, {store['trust_anchors']} in the store",
            f"trust intermediates: {trust['intermediates']} in the list, {store['trust_intermediates']} in the store",
            f"ca: {facts['ca']['path']}{_present(facts['ca']['exists'])}",
        ]
        click.echo("\n".join(lines))
    if "error" in facts["store"]:
        raise SystemExit(1)

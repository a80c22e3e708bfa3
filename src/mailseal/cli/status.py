"""`mailseal status`: which data directory a command uses and what is in it (settings, policy, store, trust list,
CA and its CRL), and what ends within EXPIRY_DAYS days (store/expiry.py, as `certs expiring`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from .common import handle_errors, print_json

#: Set in the root context's ``meta`` by the ``--home`` option (cli/main.py), so that status can say so.
HOME_OPTION = "--home"
#: The window of the "expiring" lines (`mailseal certs expiring --within` chooses another).
EXPIRY_DAYS = 30


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _expiring(store: Any, now: datetime) -> dict[str, Any]:
    """What ends within EXPIRY_DAYS (superseded certificates left out); an error is reported, not raised."""
    from ..store.expiry import collect, needing_attention

    try:
        items = needing_attention(collect(store, within=timedelta(days=EXPIRY_DAYS), at=now))
    except Exception as exc:
        return {"within_days": EXPIRY_DAYS, "error": _first_line(exc), "items": []}
    # No "days left" here: two runs of status in the same state give the same JSON.
    return {"within_days": EXPIRY_DAYS, "items": [
        {k: v for k, v in i.to_dict(now).items() if k in ("kind", "name", "serial", "not_after", "expired")}
        for i in items]}


def _store_facts(now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The store's URL (password hidden) and what it holds, and what ends soon (with the CA and the trust list);
    nothing is created when there is no store yet."""
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
        facts["error"] = _first_line(exc)
        return facts, _expiring(None, now)
    if store is None:
        return facts, _expiring(None, now)
    from ..store.directory import Directory
    from ..store.keystore import KeyStore
    from ..store.trust import StoredTrust

    expiring: dict[str, Any] = {"within_days": EXPIRY_DAYS, "items": []}
    try:
        facts["exists"] = True
        facts["keys"] = len(KeyStore(store).list())
        facts["certificates"] = len(Directory(store).entries())
        stored = StoredTrust(store).entries()
        facts["trust_anchors"] = sum(1 for e in stored if e.kind == "anchor")
        facts["trust_intermediates"] = len(stored) - facts["trust_anchors"]
        expiring = _expiring(store, now)
    except Exception as exc:  # e.g. a store whose schema was never created: report it, as above
        facts["error"] = _first_line(exc)
    finally:
        store.close()
    return facts, expiring


def _ca_facts() -> dict[str, Any]:
    """The CA: where, its certificate's end, its last CRL's number and next update (`ca crl` writes it)."""
    from ..pki.authority import default_directory
    from ..store.expiry import ca_items

    ca = default_directory()
    facts: dict[str, Any] = {"path": str(ca), "exists": (ca / "ca.pem").is_file()}
    if not facts["exists"]:
        return facts
    try:
        items = {i.kind: i for i in ca_items(ca)}
    except Exception as exc:  # a damaged CA folder is reported
        facts["error"] = _first_line(exc)
        return facts
    facts["subject"] = items["ca"].name
    facts["not_after"] = items["ca"].to_dict(datetime.now(UTC))["not_after"]
    crl = items.get("crl")
    facts["crl"] = None if crl is None else {"number": crl.serial, "next_update": crl.to_dict(crl.not_after)["not_after"],
                                             "path": crl.where}
    return facts


def _policy_facts() -> dict[str, Any]:
    """The defaults and the number of rules of the settings' [policy] table (not checked here: `policy check`)."""
    from ..config import load_settings

    try:
        policy = load_settings().get("policy", {})
    except Exception as exc:
        return {"error": _first_line(exc)}
    if not isinstance(policy, dict):
        return {"error": "[policy] is not a table"}
    rules = policy.get("rules", [])
    return {"sign": policy.get("sign"), "encrypt": policy.get("encrypt"),
            "rules": len(rules) if isinstance(rules, list) else 0,
            "domains": len(policy.get("domains", {}) or {}), "users": len(policy.get("users", {}) or {})}


def status() -> dict[str, Any]:
    """Everything `mailseal status` prints, as one dictionary (the ``--json`` output)."""
    from ..config import data_dir, home_source, settings_path
    from ..pki import trustlist
    from ..store.trust import store_exists

    home = data_dir()
    settings = settings_path()
    listed = trustlist.entries()
    anchors = sum(1 for e in listed if e.kind == "anchor")
    store, expiring = _store_facts(datetime.now(UTC))
    return {
        "home": str(home),
        "home_from": HOME_OPTION if click.get_current_context().find_root().meta.get(HOME_OPTION) else home_source(),
        "home_exists": home.is_dir(),
        "settings": {"path": str(settings), "exists": settings.is_file()},
        "policy": _policy_facts(),
        "store": store,
        # in_effect: which list verify, open and the gateway read (docs/trust.md, "Where the trust list lives")
        "trust_list": {"path": str(trustlist.trust_dir()), "anchors": anchors, "intermediates": len(listed) - anchors,
                       "in_effect": "store" if store_exists() else "files"},
        "ca": _ca_facts(),
        "expiring": expiring,
    }


def _present(exists: bool) -> str:
    return "" if exists else " (absent)"


def _ca_lines(ca: dict[str, Any]) -> list[str]:
    if "error" in ca:
        return [f"ca: {ca['path']} (cannot read: {ca['error']})"]
    if not ca["exists"]:
        return [f"ca: {ca['path']} (absent)"]
    crl = ca["crl"]
    return [f"ca: {ca['subject']} in {ca['path']}, valid until {ca['not_after']}",
            "next CRL update: " + (f"{crl['next_update']} (CRL {crl['number']})" if crl else "no CRL yet (mailseal ca crl)")]


def _policy_line(policy: dict[str, Any]) -> str:
    if "error" in policy:
        return f"policy: cannot read the settings: {policy['error']}"
    return (f"policy: sign {policy['sign'] or 'default'}, encrypt {policy['encrypt'] or 'default'}, "
            f"{policy['rules']} rule(s), {policy['domains']} domain(s), {policy['users']} user(s)")


def _expiring_lines(expiring: dict[str, Any]) -> list[str]:
    window = f"within {expiring['within_days']} days"
    if "error" in expiring:
        return [f"expiring {window}: cannot tell: {expiring['error']}"]
    items = expiring["items"]
    now = datetime.now(UTC)
    lines = [f"expiring {window}: {len(items) or 'nothing'}"]
    for item in items[:10]:
        left = (datetime.fromisoformat(item["not_after"].replace("Z", "+00:00")) - now).days
        when = "ended" if item["expired"] else f"{left} day(s) left"
        lines.append(f"  {item['kind']} {item['name']} {item['serial']}: {item['not_after']} ({when})")
    if len(items) > 10:
        lines.append(f"  ... and {len(items) - 10} more (mailseal certs expiring)")
    return lines


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
            f"trust list in effect: {'the store' if trust['in_effect'] == 'store' else trust['path']}",
            f"trust anchors: {trust['anchors']} in {trust['path']}, {store['trust_anchors']} in the store",
            f"trust intermediates: {trust['intermediates']} in the list, {store['trust_intermediates']} in the store",
            *_ca_lines(facts["ca"]),
            _policy_line(facts["policy"]),
            *_expiring_lines(facts["expiring"]),
        ]
        click.echo("\n".join(lines))
    if "error" in facts["store"]:
        raise SystemExit(1)

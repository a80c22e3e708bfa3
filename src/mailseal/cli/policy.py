"""The `mailseal policy` command group: check the `[policy]` settings and explain what they decide for a message."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import load_settings
from ..errors import ConfigurationError, MailsealError, UsageError
from ..policy import Decision, Policy, RecipientDecision
from ..policy.validation import size as parse_size
from .common import handle_errors, print_json

if TYPE_CHECKING:
    from ..store.database import Store

#: What each [policy.smime] post_quantum mode does to a recipient with both kinds of certificate (docs/pq.md).
POST_QUANTUM_WORDS = {
    "hybrid": "a recipient with a classical and an ML-KEM certificate is encrypted to both",
    "prefer_pq": "a recipient with an ML-KEM certificate is encrypted to it alone",
    "require_pq": "only ML-KEM certificates are used; a recipient without one has no certificate",
}

#: Which settings `explain` shows for each direction, in this order.
_OUTBOUND_SHOWN = ("sign", "encrypt", "on_missing_certificate")
_INBOUND_SHOWN = ("decrypt_inbound", "verify_inbound", "strip_signatures", "subject_tag_encrypted",
                  "subject_tag_signed", "subject_tag_failed")


def read_settings(config: str | None) -> dict[str, Any]:
    """The settings of ``--config FILE``, else of the usual settings file; unreadable settings are configuration
    errors (exit 2, ``error[configuration]``)."""
    if config is None:
        try:
            return load_settings()
        except ConfigurationError:
            raise
        except UsageError as exc:
            raise ConfigurationError(exc.message) from None
    path = Path(config)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the settings file {path} is not valid TOML: {exc}") from None


def open_store_read_only() -> Store | None:
    """The store, opened without migrations; None when the data directory holds no store (nothing is created)."""
    from ..config import data_dir
    from ..store.database import DB_URL_ENV, SQLITE_FILE, Store

    url = os.environ.get(DB_URL_ENV)
    if not url:
        path = data_dir() / SQLITE_FILE
        if not path.is_file():
            return None
        url = f"sqlite:///{path.resolve()}"
    return Store.open(url, run_migrations=False)


def policy_settings(config: str | None, store: Store) -> dict[str, Any]:
    """The settings with the store's policy in place of the file's `[policy]` when the store holds one."""
    from ..store import stored_policy

    return stored_policy.effective_settings(read_settings(config), stored_policy.load(store))


def _stored(store: Store | None) -> Any:
    """The stored policy (or None) of a store opened read-only; an older schema is reported, not upgraded."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..store import stored_policy

    if store is None:
        return None
    try:
        return stored_policy.load(store)
    except SQLAlchemyError as exc:
        raise UsageError(f"cannot read the store ({type(exc).__name__}); run `mailseal keys list` once to bring "
                         "it up to date") from None


@click.group("policy")
def policy_group() -> None:
    """The administrator's policy: what the gateway does for each recipient (docs/policy.md)."""


@policy_group.command("check")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file to check (default: $MAILSEAL_CONFIG or mailseal.toml in the data directory).")
@click.option("--file", "file_only", is_flag=True,
              help="Check the settings file's [policy] even when the store holds a policy.")
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
@handle_errors
def check_cmd(config: str | None, file_only: bool, as_json: bool) -> None:
    """Validate the policy in effect (the store's, else the settings file's) and print a summary of it."""
    from ..store import stored_policy

    store = None if file_only else open_store_read_only()
    try:
        stored = _stored(store)
    finally:
        if store is not None:
            store.close()
    settings = read_settings(config)
    policy = Policy.from_settings(stored_policy.effective_settings(settings, stored))
    source = stored_policy.source_of(stored)
    warnings = list(policy.warnings())
    if stored is not None and settings.get("policy"):
        warnings.append(f"the settings file's [policy] is not used: the store holds version {stored.version} "
                        "(mailseal policy export / import)")
    if as_json:
        print_json({"valid": True, "source": source, "version": stored.version if stored else None,
                    "policy": policy.to_dict(), "warnings": warnings})
        return
    summary = policy.to_dict()
    click.echo(f"policy: valid (from {source})")
    click.echo(f"accepted domains: {', '.join(policy.accepted_domains) or '(none)'}")
    click.echo(f"global: {_pairs(summary['global'])}")
    for kind in ("domains", "users"):
        for name, values in summary[kind].items():
            click.echo(f"{kind[:-1]} {name}: {_pairs(values) or '(nothing set)'}")
    if policy.rules:
        click.echo("rules (in order, the first match wins):")
        for i, rule in enumerate(summary["rules"], 1):
            body = {k: val for k, val in rule.items() if k != "name"}
            click.echo(f"  {i}. {rule['name']}: {_pairs(body)}")
    else:
        click.echo("rules: (none)")
    click.echo(f"smime: {_pairs(summary['smime'])}")
    for warning in warnings:
        click.echo(f"warning: {warning}")


@policy_group.command("explain")
@click.option("--from", "sender", required=True, metavar="ADDR",
              help='The envelope sender (MAIL FROM) and, unless --header-from, the From address; "" for <>.')
@click.option("--header-from", "header_from", multiple=True, metavar="ADDR",
              help="The From header address when it differs from the envelope sender (repeatable).")
@click.option("--to", "to", multiple=True, metavar="ADDR", help="A recipient named in To (repeatable).")
@click.option("--cc", "cc", multiple=True, metavar="ADDR", help="A recipient named in Cc (repeatable).")
@click.option("--bcc", "bcc", multiple=True, metavar="ADDR",
              help="A recipient in the envelope only, as Bcc recipients are (repeatable).")
@click.option("--subject", default="", help="The Subject header.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="Another header field (repeatable).")
@click.option("--size", "size", default="1K", show_default=True, metavar="BYTES",
              help='The message size: bytes, or with K, M or G ("10M").')
@click.option("--signed", is_flag=True, help="The message already carries an S/MIME signature.")
@click.option("--encrypted", is_flag=True, help="The message is already S/MIME encrypted.")
@click.option("--text", "text", metavar="TEXT",
              help="The message's text, for rules with content conditions (without it they are not evaluated).")
@click.option("--text-file", "text_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True),
              metavar="FILE", help="Read the text from FILE (a message: its text parts are read as the gateway "
                                   "reads them; - for standard input).")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file (default: $MAILSEAL_CONFIG or mailseal.toml in the data directory).")
@click.option("--assume-key", "assume_keys", multiple=True, metavar="ADDR",
              help="Act as if the key store held a signing and decryption key for ADDR (repeatable).")
@click.option("--assume-cert", "assume_certs", multiple=True, metavar="ADDR",
              help="Act as if an encryption certificate for ADDR could be found (repeatable).")
@click.option("--no-store", is_flag=True, help="Do not read the store: only the --assume-* flags count.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@handle_errors
def explain_cmd(sender: str, header_from: tuple[str, ...], to: tuple[str, ...], cc: tuple[str, ...],
                bcc: tuple[str, ...], subject: str, headers: tuple[str, ...], size: str, signed: bool,
                encrypted: bool, text: str | None, text_file: str | None, config: str | None,
                assume_keys: tuple[str, ...], assume_certs: tuple[str, ...], no_store: bool, as_json: bool) -> None:
    """Show what the policy does for each recipient of a message, and which rule or setting decided it."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..policy.explain import Example, explain
    from ..store.policy_facts import StoreFacts

    try:
        size_bytes = parse_size(size, "--size")
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
    if text is not None and text_file is not None:
        raise UsageError("give --text or --text-file, not both")
    example = Example(sender, to=to, cc=cc, bcc=bcc, header_from=header_from, subject=subject, headers=headers,
                      size=size_bytes, signed=signed, encrypted=encrypted, assume_keys=assume_keys,
                      assume_certs=assume_certs, text=text if text_file is None else _text_of(text_file))
    example.envelope()  # a missing recipient is reported before the store is opened
    store = None if no_store else open_store_read_only()
    try:
        # The policy in effect: the store's when it holds one (as the gateway reads it), else the file's.
        policy = Policy.from_settings(read_settings(config) if store is None else policy_settings(config, store))
        explained = explain(policy, example, None if store is None else StoreFacts(store),
                            without_store="--no-store" if no_store else "no store in the data directory")
    except SQLAlchemyError as exc:
        # explain never migrates (it only reads): an older schema is reported, not upgraded behind one's back.
        raise UsageError(f"cannot read the store ({type(exc).__name__}); run `mailseal keys list` once to bring "
                         "it up to date, or use --no-store") from None
    finally:
        if store is not None:
            store.close()
    decision, facts_from = explained.decision, explained.facts_from
    if as_json:
        print_json(explained.to_dict())
        return
    _render(decision, facts_from)
    if any(d.encrypt for d in decision.recipients):
        click.echo(f"post-quantum: {explained.post_quantum} ({POST_QUANTUM_WORDS[explained.post_quantum]})")


def _text_of(path: str) -> str:
    """The text of a file for `explain --text-file`: a message (it starts with header fields) is read part by part
    as the gateway reads it, anything else as UTF-8 text."""
    from ..mime.entity import Entity
    from ..mime.text import extract_text

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        entity = Entity.parse(data)
    except MailsealError:
        return data.decode("utf-8", "replace")
    if not entity.header_lines:
        return data.decode("utf-8", "replace")
    return extract_text(entity, 64 << 20).text


@policy_group.command("import")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file whose [policy] to store (default: the usual settings file).")
@handle_errors
def import_cmd(config: str | None) -> None:
    """Store the settings file's [policy] in the store: from then on it is the policy of every node."""
    from ..store import stored_policy
    from ..store.database import Store

    settings = read_settings(config)
    table = settings.get("policy", {})
    store = Store.open()
    try:
        saved = stored_policy.save(store, table if isinstance(table, dict) else {},
                                   check=lambda t: _check(settings, t), file_table=table if isinstance(table, dict) else None)
    finally:
        store.close()
    click.echo(f"policy stored: version {saved.version}; a running gateway applies it on reload "
               "(systemctl reload mailseal)")


@policy_group.command("export")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON instead of TOML.")
@handle_errors
def export_cmd(as_json: bool) -> None:
    """Print the stored policy as a [policy] table to paste into the settings file."""
    from ..policy.toml_text import dumps

    store = open_store_read_only()
    try:
        stored = _stored(store)
    finally:
        if store is not None:
            store.close()
    if stored is None:
        raise UsageError("no policy in the store: the settings file's [policy] applies")
    if as_json:
        print_json({"version": stored.version, "policy": stored.table})
        return
    click.echo(f"# the stored policy, version {stored.version} ({stored.updated_by})")
    click.echo(dumps(stored.table), nl=False)


@policy_group.command("clear")
@handle_errors
def clear_cmd() -> None:
    """Remove the stored policy: the settings file's [policy] applies again (after a reload)."""
    from ..store import stored_policy
    from ..store.database import Store

    store = Store.open()
    try:
        removed = stored_policy.clear(store)
    finally:
        store.close()
    if removed is None:
        raise UsageError("no policy in the store: the settings file's [policy] applies already")
    click.echo(f"stored policy version {removed.version} removed: the settings file's [policy] applies")


def _check(settings: dict[str, Any], table: dict[str, Any]) -> None:
    Policy.from_settings({**settings, "policy": table})


def _render(decision: Decision, facts_from: str) -> None:
    click.echo(f"sender: {decision.sender or '<>'}   (keys and certificates: {facts_from})")
    for note in decision.notes:
        click.echo(f"note: {note}")
    for d in decision.recipients:
        click.echo("")
        _render_recipient(d)
    groups = decision.groups()
    click.echo("")
    click.echo(f"messages sent: {len(groups)}")
    for i, g in enumerate(groups, 1):
        what = [w for w, on in (("signed", g.sign), ("encrypted", g.encrypt), ("decrypted", g.decrypt),
                                ("verified", g.verify), ("signature stripped", g.strip_signature),
                                ("through the portal (a notification each)", g.portal)) if on]
        click.echo(f"  {i}. {', '.join(g.recipients)}: {', '.join(what) or 'unchanged'}")
    for label, items in (("refused", decision.refused()), ("held", decision.held())):
        if items:
            click.echo(f"{label}: {', '.join(d.recipient for d in items)}")


def _render_recipient(d: RecipientDecision) -> None:
    click.echo(f"{d.recipient}: {d.direction}{' (Bcc)' if d.bcc else ''}, {d.action} (decided by {d.rule})")
    if d.refuse:
        click.echo(f"  refused: {d.refuse}")
    if d.hold:
        click.echo(f"  held: {d.hold}")
    rows: list[tuple[str, str]]
    shown: tuple[str, ...]
    if d.direction.value == "inbound":
        rows = [("decrypt", _yes(d.decrypt)), ("verify", _yes(d.verify)), ("strip", _yes(d.strip_signature)),
                ("tag", repr(d.subject_tag) if d.subject_tag else "none")]
        shown = _INBOUND_SHOWN
    elif d.direction.value == "relay":
        rows, shown = [], ()
    else:
        rows = [("sign", f"yes, as {d.signer}" if d.sign else "no"),
                ("encrypt", "portal (read in the recipient portal)" if d.portal else _yes(d.encrypt))]
        shown = _OUTBOUND_SHOWN
    for label, value in rows:
        click.echo(f"  {label:<8} {value}")
    if d.subject_rewrite is not None:
        click.echo(f"  subject  rewritten to {d.subject_rewrite!r}")
    for key in shown:
        if key in d.settings:
            click.echo(f"  setting  {key} = {_value(d.settings[key])}   ({d.sources.get(key, 'default')})")
    for note in d.notes:
        click.echo(f"  note: {note}")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "(unset)"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _pairs(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(val) if not isinstance(val, list | dict) else val}" for k, val in values.items())


__all__ = ["open_store_read_only", "policy_group", "policy_settings", "read_settings"]

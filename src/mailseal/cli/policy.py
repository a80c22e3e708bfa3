"""The `mailseal policy` command group: check the `[policy]` settings and explain what they decide for a message."""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import load_settings
from ..errors import ConfigurationError, UsageError
from ..policy import Decision, Envelope, Facts, MessageFacts, Policy, RecipientDecision, StaticFacts
from ..policy.validation import size as parse_size
from .common import handle_errors, print_json

if TYPE_CHECKING:
    from ..store.database import Store

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


class StoreFacts:
    """Facts from the store in the data directory, read only: identities in the key store and certificates in the
    directory. Neither the lookup sources (LDAP, SMIMEA) nor path validation are consulted, so the gateway can find
    a certificate this says is missing; `--assume-cert` covers that."""

    def __init__(self, store: Store, at: datetime | None = None) -> None:
        from ..store.directory import Directory
        from ..store.keystore import KeyStore

        # Listing identities needs no passphrase: the private keys are never unlocked here.
        self._keys = KeyStore(store)
        self._directory = Directory(store)
        self._at = at or datetime.now(UTC)

    def _identity(self, address: str, usages: tuple[str, ...], *, current: bool) -> bool:
        return any(r.usage in usages and (not current or r.not_before <= self._at <= r.not_after)
                   for r in self._keys.list(address))

    def has_signing_key(self, address: str) -> bool:
        return self._identity(address, ("sign", "dual"), current=True)

    def has_decryption_key(self, address: str) -> bool:
        # An expired key still decrypts what was encrypted to it while it was valid.
        return self._identity(address, ("encrypt", "dual"), current=False)

    def has_certificate(self, address: str) -> bool:
        return bool(self._directory.certificates_for(address, self._at)) or \
            self._identity(address, ("encrypt", "dual"), current=True)


class EitherFacts:
    """True when any of the sources says so: the assumptions given on the command line, then the store."""

    def __init__(self, *sources: Facts) -> None:
        self.sources = sources

    def has_signing_key(self, address: str) -> bool:
        return any(s.has_signing_key(address) for s in self.sources)

    def has_decryption_key(self, address: str) -> bool:
        return any(s.has_decryption_key(address) for s in self.sources)

    def has_certificate(self, address: str) -> bool:
        return any(s.has_certificate(address) for s in self.sources)


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


@click.group("policy")
def policy_group() -> None:
    """The administrator's policy: what the gateway does for each recipient (docs/policy.md)."""


@policy_group.command("check")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file to check (default: $MAILSEAL_CONFIG or mailseal.toml in the data directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
@handle_errors
def check_cmd(config: str | None, as_json: bool) -> None:
    """Validate the [policy] settings and print a summary of the effective policy."""
    policy = Policy.from_settings(read_settings(config))
    if as_json:
        print_json({"valid": True, "policy": policy.to_dict(), "warnings": list(policy.warnings())})
        return
    summary = policy.to_dict()
    click.echo("policy: valid")
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
    for warning in policy.warnings():
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
                encrypted: bool, config: str | None, assume_keys: tuple[str, ...], assume_certs: tuple[str, ...],
                no_store: bool, as_json: bool) -> None:
    """Show what the policy does for each recipient of a message, and which rule or setting decided it."""
    policy = Policy.from_settings(read_settings(config))
    recipients = (*to, *cc, *bcc)
    if not recipients:
        raise UsageError("give at least one recipient with --to, --cc or --bcc")
    try:
        size_bytes = parse_size(size, "--size")
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
    mail_from = "" if sender.strip() in ("", "<>") else sender.strip()
    froms = header_from or ((mail_from,) if mail_from else ())
    fields: list[tuple[str, str]] = [("From", ", ".join(froms))] if froms else []
    fields += [(name, ", ".join(addrs)) for name, addrs in (("To", to), ("Cc", cc)) if addrs]
    fields.append(("Subject", subject))
    for item in headers:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise UsageError(f"--header {item!r}: write it as 'Name: value'")
        fields.append((name.strip(), value.strip()))
    message = MessageFacts(from_addresses=froms, subject=subject, headers=tuple(fields), size=size_bytes,
                           signed=signed, encrypted=encrypted, header_recipients=frozenset((*to, *cc)))
    assumed = StaticFacts(signing_keys=assume_keys, decryption_keys=assume_keys, certificates=assume_certs)
    store = None if no_store else open_store_read_only()
    facts_from = "assumptions only (--no-store)" if no_store else "assumptions and the store"
    if store is None and not no_store:
        facts_from = "assumptions only (no store in the data directory)"
    from sqlalchemy.exc import SQLAlchemyError

    try:
        facts: Facts = assumed if store is None else EitherFacts(assumed, StoreFacts(store))
        decision = policy.decide(Envelope(mail_from, recipients), message, facts)
    except SQLAlchemyError as exc:
        # explain never migrates (it only reads): an older schema is reported, not upgraded behind one's back.
        raise UsageError(f"cannot read the store ({type(exc).__name__}); run `mailseal keys list` once to bring "
                         "it up to date, or use --no-store") from None
    finally:
        if store is not None:
            store.close()
    if as_json:
        print_json({**decision.to_dict(), "facts": facts_from})
        return
    _render(decision, facts_from)


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
                                ("verified", g.verify), ("signature stripped", g.strip_signature)) if on]
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
        rows = [("sign", f"yes, as {d.signer}" if d.sign else "no"), ("encrypt", _yes(d.encrypt))]
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


__all__ = ["EitherFacts", "StoreFacts", "open_store_read_only", "policy_group", "read_settings"]

"""The `mailseal admins` command group: the web console's accounts (docs/web.md)."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..store.admins import Admins, generate_password
from .common import handle_errors, print_json


def admins() -> Admins:
    """The console accounts in the store (``$MAILSEAL_DB_URL``, else the data directory). No console key: the
    command line never reads a second factor, it only resets one."""
    from ..store.database import Store

    return Admins(Store.open())


def _password(password_stdin: bool) -> tuple[str, bool]:
    """The password from standard input (first line), else a generated one; and whether it was generated."""
    if not password_stdin:
        return generate_password(), True
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError("--password-stdin: standard input gave no password")
    return line, False


@click.group("admins")
def admins_group() -> None:
    """Web console accounts: who may sign in to the console, as admin (changes) or auditor (reads)."""


@admins_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "auditor"]), default="admin", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else one is generated "
                                                     "and printed once).")
@handle_errors
def add_cmd(name: str, role: str, password_stdin: bool) -> None:
    """Create the console account NAME. Its second factor (TOTP) is enrolled at its first login."""
    password, generated = _password(password_stdin)
    record = admins().add(name, password, role)
    click.echo(f"added {record.name} ({record.role})")
    if generated:
        click.echo(f"password: {password}")


@admins_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else one is generated "
                                                     "and printed once).")
@handle_errors
def passwd_cmd(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (ends its sessions, lifts a lock-out)."""
    accounts = admins()
    if accounts.get(name) is None:
        raise UsageError(f"no console account {name!r}")
    password, generated = _password(password_stdin)
    accounts.set_password(name, password)
    click.echo(f"password changed for {name}")
    if generated:
        click.echo(f"password: {password}")


@admins_group.command("totp-reset")
@click.argument("name")
@handle_errors
def totp_reset_cmd(name: str) -> None:
    """Forget NAME's second factor: a new one is enrolled at the next login (a lost phone)."""
    admins().reset_totp(name)
    click.echo(f"second factor reset for {name}: enrolled again at the next login")


@admins_group.command("remove")
@click.argument("name")
@handle_errors
def remove_cmd(name: str) -> None:
    """Delete the console account NAME, its sessions and its API tokens."""
    admins().remove(name)
    click.echo(f"removed {name}")


@admins_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the console accounts (never a hash or a secret)."""
    records = admins().list()
    if as_json:
        print_json({"admins": [r.to_dict() for r in records]})
        return
    for r in records:
        last = r.last_login.isoformat(timespec="seconds").replace("+00:00", "Z") if r.last_login else "never"
        totp = "totp" if r.totp_enrolled else "no-totp"
        click.echo(f"{r.name}\t{r.role}\t{totp}\t{last}")


@admins_group.command("token")
@click.argument("name")
@click.argument("label")
@click.option("--scope", type=click.Choice(["read", "admin"]), default="read", show_default=True)
@handle_errors
def token_cmd(name: str, label: str, scope: str) -> None:
    """Create an API token for NAME's scripts (printed once: `Authorization: Bearer TOKEN`)."""
    from ..store.apitokens import ApiTokens

    raw, token = ApiTokens(admins().store).create(name, label, scope)
    click.echo(f"token {token.id} ({token.scope}) for {name}: {raw}")


@admins_group.command("token-revoke")
@click.argument("token_id", type=int)
@handle_errors
def token_revoke_cmd(token_id: int) -> None:
    """Revoke the API token TOKEN_ID."""
    from ..store.apitokens import ApiTokens

    ApiTokens(admins().store).revoke(token_id)
    click.echo(f"revoked token {token_id}")


@admins_group.command("keys")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def keys_cmd(name: str, as_json: bool) -> None:
    """List NAME's security keys (WebAuthn second factors registered in the console): id, label, last use."""
    from ..store.securitykeys import SecurityKeys

    accounts = admins()
    if accounts.get(name) is None:
        raise UsageError(f"no console account {name!r}")
    found = SecurityKeys(accounts.store).list(name)
    if as_json:
        print_json({"account": name, "security_keys": [k.to_dict() for k in found]})
        return
    for k in found:
        last = k.last_used.isoformat(timespec="seconds").replace("+00:00", "Z") if k.last_used else "never"
        click.echo(f"{k.id}\t{k.label}\t{','.join(k.transports) or '-'}\t{last}")


@admins_group.command("key-remove")
@click.argument("name")
@click.argument("key_id", type=int)
@handle_errors
def key_remove_cmd(name: str, key_id: int) -> None:
    """Forget NAME's security key KEY_ID (a lost key; `mailseal admins keys NAME` lists the ids)."""
    from ..store.securitykeys import SecurityKeys

    removed = SecurityKeys(admins().store).remove(name, key_id)
    click.echo(f"removed security key {removed.id} ({removed.label}) of {name}")

"""The `mailseal users` command group: SMTP submission accounts for the gateway (SMTP AUTH, RFC 4954)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import UsageError
from ..store.users import Users
from .common import apply, handle_errors, print_json


def users() -> Users:
    """The submission accounts in the store (``$MAILSEAL_DB_URL``, else the data directory)."""
    from ..store.database import Store

    return Users(Store.open())


def _on_terminal() -> bool:
    return sys.stdin.isatty()


def new_password(username: str, password_env: str | None, password_file: str | None) -> bytes:
    """The new password: ``--password-env VAR``, ``--password-file FILE`` (first line), else asked twice on a
    terminal; with none of them a ``UsageError`` (never a password on the command line, where ``ps`` shows it)."""
    if password_env is not None and password_file is not None:
        raise UsageError("give --password-env or --password-file, not both")
    if password_env is not None:
        if password_env not in os.environ:
            raise UsageError(f"--password-env {password_env}: the environment variable is not set")
        return os.environ[password_env].encode()
    if password_file is not None:
        lines = Path(password_file).read_bytes().splitlines()
        return lines[0] if lines else b""
    if not _on_terminal():
        raise UsageError("no password: use --password-env VAR or --password-file FILE, or run on a terminal")
    return str(click.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True,
                            err=True)).encode()


password_options = [
    click.option("--password-env", metavar="VAR", help="Read the password from the environment variable VAR."),
    click.option("--password-file", metavar="FILE", type=click.Path(dir_okay=False, exists=True),
                 help="Read the password from the first line of FILE."),
]
address_option = click.option("--address", "addresses", metavar="ADDR", multiple=True, required=True,
                              help="An address the account may send as (repeatable).")


@click.group("users")
def users_group() -> None:
    """SMTP submission accounts: who may relay through the gateway, and as which addresses."""


@users_group.command("add")
@click.argument("username")
@address_option
@apply(password_options)
@handle_errors
def add_cmd(username: str, addresses: tuple[str, ...], password_env: str | None, password_file: str | None) -> None:
    """Create the account USERNAME, allowed to send as each --address."""
    accounts = users()
    record = accounts.add(username, new_password(username, password_env, password_file), addresses)
    click.echo(f"added {record.username}: {', '.join(record.addresses)}")


@users_group.command("passwd")
@click.argument("username")
@apply(password_options)
@handle_errors
def passwd_cmd(username: str, password_env: str | None, password_file: str | None) -> None:
    """Set a new password for USERNAME."""
    accounts = users()
    if accounts.get(username) is None:  # before asking for a password that would be thrown away
        raise UsageError(f"no submission account {username!r}")
    accounts.set_password(username, new_password(username, password_env, password_file))
    click.echo(f"password changed for {username}")


@users_group.command("addresses")
@click.argument("username")
@address_option
@handle_errors
def addresses_cmd(username: str, addresses: tuple[str, ...]) -> None:
    """Replace the addresses USERNAME may send as."""
    record = users().set_addresses(username, addresses)
    click.echo(f"{record.username}: {', '.join(record.addresses)}")


@users_group.command("disable")
@click.argument("username")
@handle_errors
def disable_cmd(username: str) -> None:
    """Disable USERNAME: it can no longer authenticate (the account and its addresses are kept)."""
    users().disable(username)
    click.echo(f"disabled {username}")


@users_group.command("enable")
@click.argument("username")
@handle_errors
def enable_cmd(username: str) -> None:
    """Enable USERNAME again."""
    users().disable(username, disabled=False)
    click.echo(f"enabled {username}")


@users_group.command("remove")
@click.argument("username")
@handle_errors
def remove_cmd(username: str) -> None:
    """Delete the account USERNAME."""
    users().remove(username)
    click.echo(f"removed {username}")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the accounts (never the password hashes)."""
    records = users().list()
    if as_json:
        print_json({"users": [r.to_dict() for r in records]})
        return
    for r in records:
        last = r.last_login.isoformat(timespec="seconds").replace("+00:00", "Z") if r.last_login else "never"
        click.echo(f"{r.username}\t{'disabled' if r.disabled else 'enabled'}\t{','.join(r.addresses)}\t{last}")


if __name__ == "__main__":  # pragma: no cover - `python -m mailseal.cli.users` until main.py registers the group
    users_group(prog_name="mailseal users")

"""The `mailseal portal` command group: the recipient portal's messages for the administrator (docs/portal.md):
list, show (who was notified, who read what when), revoke, extend, purge, a new password for a message read with
one, and the recipients' accounts (list, reset, remove). The console's Portal page calls the same ``PortalStore``
methods."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from ..store.portal import PortalStore
from ..store.portal_accounts import PortalAccounts
from ..store.portal_records import PortalMessage
from .common import handle_errors, print_json
from .render import table


def portal_store() -> PortalStore:
    """The portal's store (``$MAILSEAL_DB_URL``, else the data directory), with the portal key when it exists
    (``[portal] key_file``, else ``portal.key`` in the home); these commands never open a message, so none is
    made here."""
    from ..config import load_settings
    from ..policy.portal_settings import parse_portal
    from ..store.database import Store
    from ..store.portal_key import key_path, portal_key

    settings = parse_portal(load_settings())
    key = portal_key(settings.key_file) if key_path(settings.key_file).exists() else None
    return PortalStore(Store.open(), key)


def _when(t: datetime | None, never: str = "-") -> str:
    return never if t is None else t.strftime("%Y-%m-%d %H:%M")


def _recipients(m: PortalMessage) -> str:
    return ", ".join(f"{r.address}{' (Bcc)' if r.bcc else ''}" for r in m.recipients)


def _notified(m: PortalMessage) -> str:
    """How many recipients' notifications the next hop accepted, of how many."""
    return f"{sum(r.notified is not None for r in m.recipients)}/{len(m.recipients)}"


@click.group("portal")
def portal_group() -> None:
    """The recipient portal: messages read in a browser by recipients without a certificate."""


@portal_group.command("list")
@click.option("--sender", metavar="ADDR", help="Only messages from ADDR.")
@click.option("--recipient", metavar="ADDR", help="Only messages to ADDR.")
@click.option("--state", type=click.Choice(["active", "expired", "revoked", "purged"]), help="Only in this state.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(sender: str | None, recipient: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """The portal's messages, newest first."""
    found = portal_store().list_messages(sender=sender, recipient=recipient, state=state, limit=limit)
    if as_json:
        print_json({"messages": [m.to_dict() for m in found]})
        return
    if not found:
        click.echo("no portal messages")
        return
    rows = [[m.id, str(m.state), _when(m.created), _when(m.expires, "never"), m.sender, _notified(m),
             str(sum(r.reads for r in m.recipients)), _recipients(m)] for m in found]
    click.echo(table(["ID", "STATE", "CREATED", "EXPIRES", "SENDER", "NOTIFIED", "READS", "RECIPIENTS"], rows))


@portal_group.command("show")
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show_cmd(message_id: str, as_json: bool) -> None:
    """One message: its recipients, their reads, and every audited access (who read what when)."""
    m = portal_store().show(message_id)
    if as_json:
        print_json(m.to_dict())
        return
    click.echo(f"message  {m.id}\nstate    {m.state}{f' ({m.revoked_note})' if m.revoked_note else ''}")
    click.echo(f"sender   {m.sender}\nbrand    {m.brand}\ncreated  {_when(m.created)}\n"
               f"expires  {_when(m.expires, 'never')}\nproof    {m.proof}\nreplies  {m.replies}")
    click.echo("recipients:")
    click.echo(table(["ADDRESS", "BCC", "NOTIFIED", "READS", "FIRST READ", "LAST READ"],
                     [[r.address, "yes" if r.bcc else "no", _when(r.notified, "not yet"), str(r.reads),
                       _when(r.first_read), _when(r.last_read)] for r in m.recipients]))
    click.echo("accesses:")
    click.echo(table(["TIME", "ACTION", "ADDRESS", "BY"],
                     [[_when(a.time), a.action, a.address or "-", a.actor] for a in m.accesses]))


@portal_group.command("revoke")
@click.argument("message_id", required=False)
@click.option("--sender", metavar="ADDR", help="Revoke every active message from ADDR.")
@click.option("--recipient", metavar="ADDR", help="Revoke every active message to ADDR.")
@click.option("--note", default="", help="Kept with the message (the recipient sees \"revoked by the sender\").")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def revoke_cmd(message_id: str | None, sender: str | None, recipient: str | None, note: str, as_json: bool) -> None:
    """Revoke MESSAGE_ID, or every active message of a sender or a recipient: its links stop working."""
    revoked = portal_store().revoke(message_id, sender=sender, recipient=recipient, note=note)
    if as_json:
        print_json({"revoked": revoked})
        return
    click.echo(f"revoked {len(revoked)} message{'s' if len(revoked) != 1 else ''}")
    for ident in revoked:
        click.echo(f"  {ident}")


@portal_group.command("extend")
@click.argument("message_id")
@click.argument("days", type=int)
@handle_errors
def extend_cmd(message_id: str, days: int) -> None:
    """Give MESSAGE_ID DAYS more days (0: never expires)."""
    expires = portal_store().extend(message_id, days)
    click.echo(f"{message_id} now expires {_when(expires, 'never')}")


@portal_group.command("purge")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def purge_cmd(as_json: bool) -> None:
    """Destroy the sealed content and key of expired messages now (the running gateway does it on a schedule)."""
    done = portal_store().purge()
    if as_json:
        print_json(done.to_dict())
        return
    click.echo(f"purged {done.messages} message{'s' if done.messages != 1 else ''} (and {done.passcodes} passcodes, "
               f"{done.sessions} sessions, {done.outbox} outbox items)")


@portal_group.command("password")
@click.argument("message_id")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read the new password from the first line of standard input instead of generating one.")
@handle_errors
def password_cmd(message_id: str, from_stdin: bool) -> None:
    """Give MESSAGE_ID a new password (its recipients then read it with that one, not a mailed code); a generated
    one is printed once, to pass on by phone or text message: only its argon2id hash is kept."""
    from ..store.portal import new_password

    password = sys.stdin.readline().rstrip("\r\n") if from_stdin else new_password()
    portal_store().set_password(message_id, password)
    if from_stdin:
        click.echo(f"{message_id} is now read with the password given")
    else:
        click.echo(f"{message_id} is now read with the password\n\n    {password}\n\npass it on to the recipients "
                   "by phone or text message, never by mail")


def _accounts() -> PortalAccounts:
    return PortalAccounts(portal_store().store, None)


@portal_group.group("accounts")
def accounts_group() -> None:
    """Recipients' portal accounts (password + TOTP, for brands with proof = "account")."""


@accounts_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def accounts_list_cmd(as_json: bool) -> None:
    """The portal accounts: enrolled or not, last sign-in, failures and lock."""
    found = _accounts().list()
    if as_json:
        print_json({"accounts": [a.to_dict() for a in found]})
        return
    if not found:
        click.echo("no portal accounts")
        return
    click.echo(table(["ADDRESS", "ENROLLED", "CREATED", "LAST SIGN-IN", "FAILURES", "LOCKED UNTIL"],
                     [[a.address, "yes" if a.enrolled else "no", _when(a.created), _when(a.last_sign_in, "never"),
                       str(a.failed), _when(a.locked_until)] for a in found]))


@accounts_group.command("reset")
@click.argument("address")
@handle_errors
def accounts_reset_cmd(address: str) -> None:
    """Forget ADDRESS's password and authenticator: the next visit proves the mailbox with a mailed code and enrols
    again. Its portal sessions end."""
    _accounts().reset(address)
    click.echo(f"the portal account {address.strip().lower()} is reset: the next visit enrols again")


@accounts_group.command("remove")
@click.argument("address")
@handle_errors
def accounts_remove_cmd(address: str) -> None:
    """Remove ADDRESS's portal account; its portal sessions end."""
    _accounts().remove(address)
    click.echo(f"the portal account {address.strip().lower()} is removed")

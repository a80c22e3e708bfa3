"""`mailseal held`: messages the gateway held for recipients without a usable certificate."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from .common import handle_errors

if TYPE_CHECKING:
    from ..gateway.held import HeldMessages

_config = click.option("--config", type=click.Path(dir_okay=False, exists=True),
                       help="The settings file (default: $MAILSEAL_CONFIG, else mailseal.toml in the data directory).")
_json = click.option("--json", "as_json", is_flag=True)


def _settings(config: str | None) -> dict[str, object]:
    from ..config import CONFIG_ENV, load_settings

    if config:
        os.environ[CONFIG_ENV] = config
    return load_settings()


def _held(config: str | None) -> HeldMessages:
    from ..gateway.held import HeldMessages as Held
    from ..gateway.settings import GatewaySettings

    return Held(GatewaySettings.from_settings(_settings(config)).held_dir)


@click.group("held")
def held_group() -> None:
    """Messages held by the policy (encryption required, no certificate): list, show, release, delete."""


@held_group.command("list")
@_config
@_json
@handle_errors
def list_cmd(config: str | None, as_json: bool) -> None:
    """The held messages, oldest first."""
    held = _held(config)
    messages = held.list()
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in messages], indent=2))
        return
    if not messages:
        click.echo(f"no held messages in {held.directory}")
    for m in messages:
        click.echo(f"{m.id[:12]}  {m.held_at}  {m.size:>9}  from {m.mail_from or '<>'} for {', '.join(m.recipients)}")


@held_group.command("show")
@click.argument("held_id")
@_config
@_json
@handle_errors
def show_cmd(held_id: str, config: str | None, as_json: bool) -> None:
    """Why a message is held, and its header (never its body)."""
    from ..mime.entity import Entity
    from ..streamio import region_of

    held = _held(config)
    message = held.get(held_id)
    with open(message.path, "rb") as f:
        header = [line.decode("utf-8", "replace") for line in Entity.from_region(region_of(f)).header_lines]
    if as_json:
        click.echo(json.dumps({**message.to_dict(), "header": header}, indent=2))
        return
    for key, value in message.to_dict().items():
        click.echo(f"{key}: {value}")
    click.echo("header:")
    for line in header:
        click.echo("  " + line.replace("\r\n", "\n  "))


@held_group.command("release")
@click.argument("held_id")
@click.option("--to", "only", multiple=True, metavar="ADDR", help="Release for this held recipient only (repeatable).")
@click.option("--unencrypted", is_flag=True,
              help="Send without encryption to recipients who still have no certificate (your decision, audited).")
@_config
@_json
@handle_errors
def release_cmd(held_id: str, only: tuple[str, ...], unencrypted: bool, config: str | None, as_json: bool) -> None:
    """Deliver a held message through the gateway's policy to its next hop, then remove it from the hold."""
    from ..gateway.build import build_gateway
    from ..gateway.release import release
    from ..store.audit import default_actor

    gateway = build_gateway(_settings(config))
    try:
        result = release(gateway, held_id, unencrypted=unencrypted, only=only, actor=default_actor())
    finally:
        gateway.executor.shutdown(wait=True)
        gateway.audit_writer.close()
    summary = {"id": result.message.id, "recipients": list(result.recipients), "copies": result.copies,
               "actions": list(result.actions)}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"released {result.message.id[:12]} to {', '.join(result.recipients)}: "
                   f"{result.copies} copies ({', '.join(result.actions)})")


@held_group.command("delete")
@click.argument("held_id")
@_config
@handle_errors
def delete_cmd(held_id: str, config: str | None) -> None:
    """Drop a held message without delivering it (audited)."""
    from ..store import audit
    from ..store.database import Store

    held = _held(config)
    message = held.delete(held_id)
    store = Store.open()
    try:
        with store.session() as session:
            audit.record(session, "gateway.held-delete", message.message_id or message.id,
                         {"held_id": message.id, "recipients": list(message.recipients)}, audit.default_actor())
    finally:
        store.close()
    click.echo(f"deleted held message {message.id[:12]}")

"""`mailseal tlsrpt`: the SMTP TLS reports (RFC 8460) of standalone delivery: show a day's, send the due ones now."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import click

from ..errors import ConfigurationError
from .common import handle_errors

if TYPE_CHECKING:
    from ..gateway.settings import GatewaySettings
    from ..gateway.tlsrpt import Sent

_config = click.option("--config", type=click.Path(dir_okay=False, exists=True),
                       help="The settings file (default: $MAILSEAL_CONFIG, else mailseal.toml in the data directory).")
_day = click.option("--day", help="The day, YYYY-MM-DD (UTC).")


def _settings(config: str | None) -> GatewaySettings:
    from ..config import CONFIG_ENV, load_settings
    from ..gateway.settings import GatewaySettings

    if config:
        os.environ[CONFIG_ENV] = config
    return GatewaySettings.from_settings(load_settings())


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a day such as 2026-12-07", param_hint="--day") from None


@click.group("tlsrpt")
def tlsrpt_group() -> None:
    """SMTP TLS reports (RFC 8460) of standalone delivery (next_hop = "mx"): show, send-now."""


@tlsrpt_group.command("show")
@_day
@_config
@handle_errors
def show_cmd(day: str | None, config: str | None) -> None:
    """The reports of a day (default today, so far), as JSON: one per recipient domain."""
    from ..gateway.tlsrpt import TlsReportBook, report, report_id

    settings = _settings(config)
    when = _parse_day(day) or datetime.now(UTC).date()
    book = TlsReportBook(settings.spool_dir / "tlsrpt")
    reports = [report(domain, when, book.counts(domain, when), settings.hostname, f"postmaster@{settings.hostname}",
                      report_id(settings.hostname, domain, when)) for domain in book.domains(when)]
    click.echo(json.dumps(reports, indent=2))


@tlsrpt_group.command("send-now")
@_day
@_config
@handle_errors
def send_now_cmd(day: str | None, config: str | None) -> None:
    """Send the reports due (every finished day not sent yet), or those of --day (today's too: so far)."""
    from ..gateway.mxlookup import SecureLookup
    from ..gateway.mxrelay import relay_for
    from ..gateway.relay import Journal
    from ..gateway.tlsrpt import TlsReportBook, send_day, send_due

    settings = _settings(config)
    if not settings.standalone:
        raise ConfigurationError("TLS reports are made in standalone delivery only (gateway.next_hop = \"mx\")")
    when = _parse_day(day)
    book = TlsReportBook(settings.spool_dir / "tlsrpt")

    async def send() -> list[Sent]:
        relay = relay_for(settings, Journal(settings.spool_dir / "delivered"))
        lookup = SecureLookup(settings.dns)
        try:
            if when is None:
                return await send_due(book, relay, lookup, settings.hostname)
            return await send_day(book, when, relay, lookup, settings.hostname)
        finally:
            await relay.close()

    results = asyncio.run(send())
    if not results:
        click.echo("no reports due")
    for sent in results:
        click.echo(f"{sent.domain}: {sent.rua or '-'}: {sent.outcome}")


__all__ = ["tlsrpt_group"]

"""`mailseal serve`: run the SMTP gateway with the settings file ($MAILSEAL_CONFIG or mailseal.toml)."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

import click

from ..errors import ErrorCode, MailsealError
from .common import handle_errors

if TYPE_CHECKING:
    from ..gateway.service import Gateway


@click.command("serve")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file (default: $MAILSEAL_CONFIG, else mailseal.toml in the data directory).")
@click.option("--listen", metavar="HOST:PORT", envvar="MAILSEAL_LISTEN",
              help="Listen here instead of gateway.listen (env MAILSEAL_LISTEN).")
@click.option("--next-hop", metavar="HOST:PORT", envvar="MAILSEAL_NEXT_HOP",
              help="Relay here instead of gateway.next_hop (env MAILSEAL_NEXT_HOP).")
@click.option("--check-config", is_flag=True, help="Check the settings and print a summary; do not start.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="With --check-config: the summary as JSON.")
@click.option("--migrate", is_flag=True,
              help="Upgrade an older store schema at start ([store] auto_migrate = true); without it the gateway "
                   "refuses to start on one (run `mailseal store upgrade`).")
@handle_errors
def serve_cmd(config: str | None, listen: str | None, next_hop: str | None, check_config: bool, log_level: str,
              as_json: bool, migrate: bool) -> None:
    """Run the S/MIME gateway: SMTP in, the policy applied to every message, relay to the next hop."""
    from ..config import CONFIG_ENV, load_settings

    if config:
        os.environ[CONFIG_ENV] = config
    settings = load_settings()
    overrides = {k: v for k, v in (("listen", listen), ("next_hop", next_hop)) if v}
    if overrides:
        settings = {**settings, "gateway": {**settings.get("gateway", {}), **overrides}}
    if migrate:
        settings = {**settings, "store": {**settings.get("store", {}), "auto_migrate": True}}
    if check_config:
        from ..gateway.build import check_settings
        from ..store.database import auto_migrate

        gateway, policy = check_settings(settings)
        auto_migrate(settings)  # the [store] table is checked too (its keys and types)
        summary = {
            "listen": "{}:{}".format(*gateway.listen),
            "next_hop": "{}:{}".format(*gateway.next_hop) if gateway.next_hop else None,
            "hostname": gateway.hostname,
            "accepted_domains": list(gateway.accepted_domains or policy.accepted_domains),
            "trusted_networks": [str(n) for n in gateway.trusted_networks],
            "starttls": "required" if gateway.tls.require_starttls else
                        "offered" if gateway.tls.certificate else "not offered",
            "outbound_tls": gateway.outbound_tls.mode,
            "tls_required_domains": list(gateway.outbound_tls.required_domains),
            "max_message_size": gateway.max_message_size,
            "max_connections": gateway.max_connections,
            "rules": len(policy.rules),
        }
        if as_json:
            click.echo(json.dumps(summary, indent=2))
        else:
            click.echo("settings OK")
            for key, value in summary.items():
                click.echo(f"  {key}: {value}")
        return
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    for chatty in ("mail.log", "alembic"):  # aiosmtpd's per-command lines, migrations at start-up
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from ..gateway.build import build_gateway

    gw = build_gateway(settings)
    asyncio.run(_run(gw))


def listen_error(exc: OSError, port: int, choose: str) -> MailsealError:
    """A socket that could not be opened for listening, as one sentence that says how to choose another port.
    ``choose`` completes "choose another with ...", e.g. ``--listen HOST:N``."""
    if exc.errno == errno.EADDRINUSE:
        reason = f"port {port} is in use"
    elif exc.errno == errno.EACCES:
        reason = f"port {port} may not be opened by this user (ports below 1024 need privileges)"
    else:
        reason = f"cannot listen on port {port}: {exc.strerror or exc}"
    return MailsealError(f"{reason}; choose another with {choose}", code=ErrorCode.IO)


def is_listen_error(exc: OSError) -> bool:
    # A socket's bind() failure names no file; an OSError from the spool or the journal does.
    return exc.filename is None and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)


class ListenFailure(Exception):
    """The gateway could not listen: ``which`` ("smtp" or "metrics") and the socket's error."""

    def __init__(self, which: str, error: OSError) -> None:
        super().__init__(which)
        self.which = which
        self.error = error


async def start_listening(gw: Gateway) -> None:
    """Start the gateway; a port that cannot be opened stops it again and raises ListenFailure (any other
    OSError as it is)."""
    try:
        await gw.start()
    except OSError as exc:
        # start() listens for SMTP first and for metrics last: what is already open tells which one failed.
        smtp_open = gw.server is not None
        await gw.stop()
        if not is_listen_error(exc):
            raise
        raise ListenFailure("metrics" if smtp_open else "smtp", exc) from exc


async def _run(gw: Gateway) -> None:
    try:
        await start_listening(gw)
    except ListenFailure as failure:
        if failure.which == "metrics" and gw.settings.metrics_listen is not None:
            raise listen_error(failure.error, gw.settings.metrics_listen[1],
                               "gateway.metrics_listen in the settings file") from failure.error
        host, port = gw.settings.listen
        raise listen_error(failure.error, port, f"--listen {host}:N (or gateway.listen in the settings file)") \
            from failure.error
    host, _ = gw.settings.listen
    hop = "{}:{}".format(*gw.settings.next_hop) if gw.settings.next_hop else "-"
    click.echo(f"mailseal gateway listening on {host}:{gw.port}, relaying to {hop}", err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    click.echo("mailseal gateway stopping: finishing messages in progress", err=True)
    await gw.stop()

"""`mailseal web`: serve the web console alone (docs/web.md), with the ``[web]`` table of the settings file."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Any

import click

from .common import handle_errors

if TYPE_CHECKING:
    from ..policy.portal_settings import PortalSettings
    from ..store.database import Store
    from ..web.held_port import HeldMail
    from ..web.settings import WebSettings


@click.command("web")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file (default: $MAILSEAL_CONFIG, else mailseal.toml in the data directory).")
@click.option("--listen", metavar="HOST:PORT", help="Listen here instead of web.listen (portal.listen with --portal).")
@click.option("--portal", is_flag=True,
              help="Serve the recipient portal ([portal] table: its own listener, 127.0.0.1:8444 by default) "
                   "instead of the console.")
@handle_errors
def web_cmd(config: str | None, listen: str | None, portal: bool) -> None:
    """Serve the web console and its REST API (plain HTTP on loopback only; TLS with web.tls_cert/tls_key), or
    with --portal the recipient portal (docs/portal.md).

    `mailseal serve` also serves the console when the settings file has a [web] table, and the portal when it has
    a [portal] table."""
    import os

    from ..config import CONFIG_ENV, load_settings
    from ..store.database import open_service_store
    from ..web.settings import parse_web

    if config:
        os.environ[CONFIG_ENV] = os.path.abspath(config)
    settings = load_settings()
    if portal:
        _serve_portal(settings, listen)
        return
    if listen:
        settings = {**settings, "web": {**settings.get("web", {}), "listen": listen}}
    web = parse_web(settings)
    store = open_service_store(settings)
    try:
        asyncio.run(_run(store, web, _held(settings, store)))
    finally:
        store.close()


async def _until_stopped(task: asyncio.Task[None]) -> None:
    """Until SIGTERM or SIGINT, or until the server's own task ends (it could not serve)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waiter = loop.create_task(stop.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


def _serve_portal(settings: dict[str, Any], listen: str | None) -> None:
    from ..policy.portal_settings import parse_portal
    from ..store.database import open_service_store

    if listen:
        settings = {**settings, "portal": {**settings.get("portal", {}), "listen": listen}}
    chosen = parse_portal(settings)
    store = open_service_store(settings)
    try:
        asyncio.run(_run_portal(store, chosen))
    finally:
        store.close()


async def _run_portal(store: Store, chosen: PortalSettings) -> None:
    from ..web import portal_server
    from .serve import is_listen_error, listen_error

    served = portal_server.for_settings(store, chosen)
    try:
        task = await portal_server.start(served, chosen.host, chosen.port)
    except OSError as exc:
        if not is_listen_error(exc):
            raise
        raise listen_error(exc, chosen.port, "--listen HOST:N (or portal.listen in the settings file)") from exc
    click.echo(f"mailseal portal on {portal_server.url(chosen)}", err=True)
    await _until_stopped(task)
    await portal_server.stop(served, task)


def _held(settings: dict[str, Any], store: Store) -> HeldMail | None:
    """The gateway's held messages when the settings file has a [gateway] table (its held_dir), else none."""
    if "gateway" not in settings:
        return None
    from .held_port import SettingsHeld

    return SettingsHeld(settings, store)


async def _run(store: Store, web: WebSettings, held: HeldMail | None = None) -> None:
    from ..web import server
    from .serve import is_listen_error, listen_error

    try:
        console, task = await server.start(store, web, held)
    except OSError as exc:
        if not is_listen_error(exc):
            raise
        raise listen_error(exc, web.port, "--listen HOST:N (or web.listen in the settings file)") from exc
    click.echo(f"mailseal console on {web.url}", err=True)
    await _until_stopped(task)
    await server.stop(console, task)

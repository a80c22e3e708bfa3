"""`mailseal serve`: run the SMTP gateway with the settings file ($MAILSEAL_CONFIG or mailseal.toml)."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from ..errors import ErrorCode, MailsealError, TemporaryError
from ..gateway import notify
from .common import fail, handle_errors

log = logging.getLogger("mailseal.gateway")

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..gateway.service import Gateway
    from ..gateway.settings import GatewaySettings
    from ..web.settings import WebSettings


#: Exit status of a configuration error (BSD sysexits.h EX_CONFIG): the settings file, the key store passphrase
#: or the TLS certificate is wrong, and starting again will not help. The systemd unit lists it in
#: RestartPreventExitStatus=, so a bad credential does not restart the service every two seconds.
EXIT_CONFIG = 78
#: Error codes that mean "the configuration is wrong" before the gateway listens.
#: A store schema the code does not match needs `mailseal store upgrade` (or newer code): no restart fixes it.
CONFIG_CODES = frozenset({ErrorCode.CONFIGURATION, ErrorCode.USAGE, ErrorCode.WRONG_PASSWORD,
                          ErrorCode.PASSWORD_NEEDED, ErrorCode.MALFORMED_CERTIFICATE, ErrorCode.MALFORMED_KEY,
                          ErrorCode.SCHEMA_MISMATCH})


@click.command("serve")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              help="The settings file (default: $MAILSEAL_CONFIG, else mailseal.toml in the data directory).")
@click.option("--listen", metavar="HOST:PORT", envvar="MAILSEAL_LISTEN",
              help="Listen here instead of gateway.listen (env MAILSEAL_LISTEN).")
@click.option("--next-hop", metavar="HOST:PORT", envvar="MAILSEAL_NEXT_HOP",
              help="Relay here instead of gateway.next_hop (env MAILSEAL_NEXT_HOP).")
@click.option("--check-config", is_flag=True,
              help="Check the settings, the store and its passphrase, and the TLS certificate; print a summary; "
                   "do not start.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="With --check-config: the summary as JSON.")
@click.option("--processes", type=click.IntRange(1, 64), metavar="N",
              help="SMTP front-end processes sharing the listening port (SO_REUSEPORT, Linux) instead of "
                   "gateway.processes; 1: one process, as by default.")
@click.option("--migrate", is_flag=True,
              help="Upgrade an older store schema at start ([store] auto_migrate = true); without it the gateway "
                   "refuses to start on one (run `mailseal store upgrade`).")
@handle_errors
def serve_cmd(config: str | None, listen: str | None, next_hop: str | None, check_config: bool, log_level: str,
              as_json: bool, processes: int | None, migrate: bool) -> None:
    """Run the S/MIME gateway: SMTP in, the policy applied to every message, relay to the next hop.

    A configuration error (settings, key store passphrase, TLS certificate) exits with status 78 (EX_CONFIG).
    SIGHUP reloads the settings file, policy, trust, keys and TLS certificate; SIGTERM stops after the messages
    in progress. Under systemd (Type=notify) it reports READY=1 once the SMTP port accepts connections.
    With --processes N (or gateway.processes) it supervises N front-end processes on the same port."""
    from ..config import CONFIG_ENV

    if config:
        os.environ[CONFIG_ENV] = os.path.abspath(config)
    overrides: dict[str, Any] = {k: v for k, v in (("listen", listen), ("next_hop", next_hop),
                                                   ("processes", processes)) if v}
    store_overrides = {"auto_migrate": True} if migrate else {}
    try:
        settings = _settings(overrides, store_overrides)
        if check_config:
            _check(settings, as_json)
            return
        from ..gateway.logsetup import setup_logging
        from ..gateway.settings import GatewaySettings

        count = GatewaySettings.from_settings(settings).processes
        if count > 1:
            _serve_frontends(settings, count, overrides, store_overrides, log_level)
            return
        setup_logging(settings, log_level)  # stderr, or the [log] file (docs/monitoring.md)
        gw, web, console, portal = _build(settings, primary=True)
    except MailsealError as exc:
        if exc.code not in CONFIG_CODES:
            raise
        fail(str(exc.code), exc.message, EXIT_CONFIG)
    asyncio.run(_run(gw, overrides, store_overrides, web, console, portal))


def _build(settings: dict[str, Any], primary: bool) -> tuple[Gateway, WebSettings | None, Any, tuple[Any, Any]]:
    """The gateway (waiting for the store), and when ``primary`` the console and the portal listener prepared
    beside it: (gateway, the [web] settings, the console, (portal settings, portal prepared))."""
    from ..gateway.build import build_gateway

    gw = _wait_for_store(lambda: build_gateway(settings), settings)
    web = _web_settings(settings) if primary else None
    console = portal_prepared = None
    if web is not None:  # built now: its imports and set-up are not paid once mail flows
        from ..web import server
        from .held_port import RunningGatewayHeld

        console = server.server(gw.resources.store, web, RunningGatewayHeld(gw))
    portal = gw.resources.portal_settings if primary and "portal" in settings else None
    if portal is not None:  # the recipient portal on its own listener (docs/portal.md)
        from ..web import portal_server

        # Brands and texts follow a reload (SIGHUP) with the gateway's; the listener needs a restart.
        portal_prepared = portal_server.for_settings(gw.resources.store, portal,
                                                     lambda: gw.resources.portal_settings)
    return gw, web, console, (portal, portal_prepared)


def _relay_target(gateway: GatewaySettings) -> str:
    """Where the gateway relays, in words for its start-up line."""
    if gateway.next_hop:
        return "{}:{}".format(*gateway.next_hop)
    return "each domain's MX" if gateway.standalone else "-"


def _serve_frontends(settings: dict[str, Any], count: int, overrides: dict[str, Any],
                     store_overrides: dict[str, Any], log_level: str) -> None:
    """``count`` front-end processes on the listening address, supervised by this one (cli/frontends.py). Front-end
    0 is the primary: it alone runs the console, the portal listener, the metrics and health listener, the
    heartbeat, the portal outbox and the journal pruning; every front-end follows the stored policy and reloads."""
    from ..gateway import metrics
    from ..gateway.logsetup import setup_logging
    from ..gateway.nodecounts import NodeCounts
    from ..gateway.settings import GatewaySettings
    from . import frontends

    frontends.check_supported()
    gateway = GatewaySettings.from_settings(settings)
    host, port = gateway.listen
    # The node's metrics: every front-end keeps its values in one folder that front-end 0's /metrics and heartbeat
    # sum over (gateway/metrics.py); a front-end that ends has its live gauges removed.
    shared = metrics.SharedFolder(gateway.spool_dir)
    try:
        reserved = frontends.reserve(host, port)
    except OSError as exc:
        shared.close()
        raise listen_error(exc, port, f"--listen {host}:N (or gateway.listen in the settings file)") from exc
    if port == 0:  # chosen once, here: every front-end binds the same one
        port = reserved.getsockname()[1]
        overrides["listen"] = f"{host}:{port}"
        settings = _settings(overrides, store_overrides)
    setup_logging(settings, log_level, shared=True)
    hop = _relay_target(gateway)
    # max_connections and max_connections_per_client count over the node (gateway/nodecounts.py).
    counts = NodeCounts(count)

    def reaped(index: int, pid: int) -> None:
        shared.process_gone(pid)
        counts.clear(index)

    @handle_errors
    def start(index: int, ready: Callable[[], None]) -> None:
        metrics.share(shared.path)
        try:
            gw, web, console, portal = _build(settings, primary=index == 0)
        except MailsealError as exc:
            if exc.code not in CONFIG_CODES:
                raise
            fail(str(exc.code), exc.message, EXIT_CONFIG)
        gw.frontend, gw.primary, gw.reuse_port = index, index == 0, True
        gw.gate.share(counts.attach(index))
        asyncio.run(_run(gw, overrides, store_overrides, web, console, portal, ready))

    try:
        code = frontends.Supervisor(count, start, f"listening on {host}:{port}, relaying to {hop}",
                                    reaped=reaped).run()
    finally:
        reserved.close()
        shared.close()
    if code:
        sys.exit(code)


#: The longest pause between two tries while the store database does not answer at start.
MAX_STORE_RETRY_SECONDS = 10.0


def _wait_for_store(build: Callable[[], Gateway], settings: dict[str, Any]) -> Gateway:
    """``build()``, tried again while the store database does not answer (``TemporaryError``: a node started
    before PostgreSQL, or while it restarts), for at most ``[store] startup_wait_seconds``, with one log line per
    try saying so. Past that the error stands (exit 2, not 78: a service manager starts it again later)."""
    from ..store.database import startup_wait

    limit = startup_wait(settings)
    deadline = time.monotonic() + limit
    pause = 0.5
    while True:
        try:
            return build()
        except TemporaryError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TemporaryError(f"{exc.message} (waited {limit:g} s: [store] startup_wait_seconds)") from exc
            pause = min(pause * 2, MAX_STORE_RETRY_SECONDS, left)
            log.warning("waiting for the store database: %s; next try in %.0f s (giving up in %.0f s)",
                        _first_line(exc.message), pause, left)
            notify.status(f"waiting for the store database: {_first_line(exc.message)[:200]}")
            time.sleep(pause)


def _web_settings(settings: dict[str, Any]) -> WebSettings | None:
    """The console's settings when the settings file has a [web] table (docs/web.md), else None."""
    if "web" not in settings:
        return None
    from ..web.settings import parse_web

    return parse_web(settings)


def _settings(overrides: dict[str, Any], store_overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings file with the command line's --listen/--next-hop/--migrate on top (a reload applies them
    again)."""
    from ..config import load_settings

    settings = load_settings()
    if overrides:
        settings = {**settings, "gateway": {**settings.get("gateway", {}), **overrides}}
    if store_overrides:
        settings = {**settings, "store": {**settings.get("store", {}), **store_overrides}}
    return settings


def _check(settings: dict[str, Any], as_json: bool) -> None:
    from ..gateway.parts import check_settings, check_store
    from ..store.database import auto_migrate

    gateway, policy = check_settings(settings)
    auto_migrate(settings)  # the [store] table is checked too (its keys and types)
    store = check_store(settings)
    summary = {
        "listen": "{}:{}".format(*gateway.listen),
        "next_hop": "{}:{}".format(*gateway.next_hop) if gateway.next_hop else ("mx" if gateway.standalone else None),
        "hostname": gateway.hostname,
        "accepted_domains": list(gateway.accepted_domains or policy.accepted_domains),
        "trusted_networks": [str(n) for n in gateway.trusted_networks],
        "starttls": "required" if gateway.tls.require_starttls else
                    "offered" if gateway.tls.certificate else "not offered",
        "outbound_tls": gateway.outbound_tls.mode,
        "tls_required_domains": list(gateway.outbound_tls.required_domains),
        "max_message_size": gateway.max_message_size,
        "max_connections": gateway.max_connections,
        "processes": gateway.processes,
        "rules": len(policy.rules),
        "console": console.url if (console := _web_settings(settings)) is not None else None,
        "portal": _portal_summary(settings, policy.uses_portal),
        **store,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo("settings OK")
        for key, value in summary.items():
            click.echo(f"  {key}: {value}")


def _portal_summary(settings: dict[str, Any], used: bool) -> str | None:
    """The recipient portal's links and brands when it is configured or the policy uses it (docs/portal.md)."""
    if "portal" not in settings and not used:
        return None
    from ..policy.portal_settings import parse_portal

    portal = parse_portal(settings)
    brands = ", ".join(sorted(portal.brands)) or "default only"
    return f"links {portal.base_url}m/..., expiry {portal.expiry_days} days, brands: {brands}"


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


async def _run(gw: Gateway, overrides: dict[str, Any], store_overrides: dict[str, Any],
               web: WebSettings | None = None, prepared: Any = None, portal: Any = (None, None),
               ready: Callable[[], None] | None = None) -> None:
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
    hop = _relay_target(gw.settings)
    listening = f"listening on {host}:{gw.port}, relaying to {hop}"
    who = "mailseal gateway" if gw.frontend is None else f"mailseal front-end {gw.frontend} (pid {os.getpid()})"
    click.echo(f"{who} {listening}", err=True)
    console = None if web is None else await _start_console(gw, web, prepared)
    portal_task = None if portal[0] is None else await _start_portal(gw, *portal)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: list[asyncio.Task[None]] = []
    lock = asyncio.Lock()
    served = None if console is None else console[0]
    loop.add_signal_handler(signal.SIGHUP, lambda: reloads.append(loop.create_task(_reload(
        gw, overrides, store_overrides, lock, listening, served))))
    follower = loop.create_task(_follow_stored_policy(gw, overrides, store_overrides, lock, listening, served))
    from ..gateway import tlsrpt
    from ..gateway.heartbeat import Heartbeat

    tasks = [follower]
    if gw.primary:  # once per node: the store's health row is the node's (summed over its front-ends)
        tasks.append(loop.create_task(Heartbeat(gw).run()))
        tasks.append(loop.create_task(tlsrpt.run(gw)))  # standalone delivery: yesterday's TLS reports (RFC 8460)
    # The socket accepts and the signals are handled from here on: systemd may start what comes After= and send
    # a reload (a SIGHUP before the handler would have ended the process).
    notify.ready(listening)
    if ready is not None:
        ready()
    await stop.wait()
    notify.stopping()
    click.echo("mailseal gateway stopping: finishing messages in progress", err=True)
    for task in [*reloads, *tasks]:
        task.cancel()
    if console is not None:
        from ..web import server

        await server.stop(*console)
    if portal_task is not None:
        from ..web import portal_server

        await portal_server.stop(portal[1], portal_task)
    await gw.stop()


async def _start_console(gw: Gateway, web: WebSettings, prepared: Any) -> tuple[Any, asyncio.Task[None]]:
    """The web console beside the gateway, on the gateway's store, in the same event loop. A port it cannot open
    stops the gateway with one line."""
    from ..web import server

    try:
        started = await server.start(prepared or gw.resources.store, web)
    except OSError as exc:
        await gw.stop()
        if not is_listen_error(exc):
            raise
        raise listen_error(exc, web.port, "web.listen in the settings file") from exc
    click.echo(f"mailseal console on {web.url}", err=True)
    return started


async def _start_portal(gw: Gateway, settings: Any, prepared: Any) -> asyncio.Task[None]:
    """The recipient portal beside the gateway, on the gateway's store, in the same event loop ([portal] listen)."""
    from ..web import portal_server

    try:
        task = await portal_server.start(prepared, settings.host, settings.port)
    except OSError as exc:
        await gw.stop()
        if not is_listen_error(exc):
            raise
        raise listen_error(exc, settings.port, "portal.listen in the settings file") from exc
    click.echo(f"mailseal portal on {portal_server.url(settings)}", err=True)
    return task


async def _reload(gw: Gateway, overrides: dict[str, Any], store_overrides: dict[str, Any], lock: asyncio.Lock,
                  listening: str, console: Any = None) -> None:
    """SIGHUP: the settings file read again and new policy, trust, keys and TLS certificate built beside the
    running ones (in a thread: the key store's scrypt must not stall connections); new connections get them,
    open ones finish with theirs; the console (``console``, when it is served) takes its new session timeouts.
    Anything wrong keeps the running settings, with one log line saying why."""
    from ..gateway.parts import build_resources

    async with lock:
        notify.reloading()
        try:
            settings = await asyncio.to_thread(_settings, overrides, store_overrides)
            web = _web_settings(settings)  # checked before anything is applied: a bad [web] refuses the reload
            gateway, policy, resources = await asyncio.to_thread(build_resources, settings, gw.resources.store)
            pending = await gw.reload(gateway, policy, resources, settings)
            if gw.primary:  # the console runs in the primary front-end only
                pending = [*pending, *_apply_web(console, web)]
        except Exception as exc:  # whatever it is, the running settings stay: one line, never a traceback
            reason = str(exc) if isinstance(exc, MailsealError | OSError) else f"{type(exc).__name__}: {exc}"
            log.error("reload refused, the previous settings stay in force: %s", _first_line(reason))
            notify.ready(f"{listening}; last reload refused: {_first_line(reason)[:200]}")
            return
        if pending:
            log.warning("reload: %s changed; restart to apply (the previous values stay in force)",
                        ", ".join(pending))
        log.info("settings reloaded")
        notify.ready(f"{listening}; settings reloaded")


def _apply_web(console: Any, web: WebSettings | None) -> list[str]:
    """The reloaded [web] table applied to the running console; what only a restart applies, by name."""
    if console is None:
        return [] if web is None else ["web (a [web] table was added)"]
    if web is None:
        return ["web (the [web] table was removed)"]
    from ..web.server import apply_settings

    return apply_settings(console, web)


async def _follow_stored_policy(gw: Gateway, overrides: dict[str, Any], store_overrides: dict[str, Any],
                                lock: asyncio.Lock, listening: str, console: Any = None) -> None:
    """Every ``gateway.policy_poll_seconds``: when the policy kept in the store (edited in the console, on any
    node) has another version than the one in force, reload as a SIGHUP would. One small indexed read a period;
    a store that cannot be read is said once and tried again at the next period."""
    from ..store.stored_policy import load

    def version() -> int | None:
        stored = load(gw.resources.store)
        return None if stored is None else stored.version

    try:
        seen = await asyncio.to_thread(version)
    except Exception as exc:  # the store may be away: the running policy stays, and the next period tries again
        log.warning("policy poll: the store could not be read (%s)", _first_line(str(exc)))
        seen = None
    failing = False
    while gw.settings.policy_poll_seconds > 0:
        await asyncio.sleep(gw.settings.policy_poll_seconds)
        try:
            now = await asyncio.to_thread(version)
        except Exception as exc:  # as above
            if not failing:
                log.warning("policy poll: the store could not be read (%s)", _first_line(str(exc)))
            failing = True
            continue
        failing = False
        if now != seen:
            log.info("the stored policy changed (version %s -> %s): reloading", seen, now)
            seen = now
            await _reload(gw, overrides, store_overrides, lock, listening, console)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed"

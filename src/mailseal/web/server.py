"""Serving the console with uvicorn in the caller's event loop: alone (`mailseal web`) or beside the gateway
(`mailseal serve` with a ``[web]`` table)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import uvicorn

from ..store.database import Store
from .app import create_app
from .context import Console
from .held_port import HeldMail
from .settings import WebSettings

log = logging.getLogger("mailseal.web")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process that runs it (the gateway) owns SIGTERM and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def server(store: Store, settings: WebSettings, held: HeldMail | None = None) -> uvicorn.Server:
    app = create_app(store, settings, held=held)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            lifespan="off", server_header=False, proxy_headers=False,
                            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
                            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None)
    return _Server(config)


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on host:port (an OSError here, not uvicorn's exit, when the port is
    taken): the console's and the recipient portal's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def bind(settings: WebSettings) -> socket.socket:
    """The console's listening socket."""
    return listening_socket(settings.host, settings.port)


async def start(store: Store | uvicorn.Server, settings: WebSettings, held: HeldMail | None = None
                ) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """The console listening (returns once it accepts connections); an OSError when the port cannot be opened.
    ``store`` may be a server made beforehand by ``server()`` (the gateway makes it before it listens, so that
    importing and building the application is not paid while it serves mail)."""
    sock = bind(settings)
    console = store if isinstance(store, uvicorn.Server) else server(store, settings, held)
    task = asyncio.get_running_loop().create_task(console.serve(sockets=[sock]))
    while not console.started:
        if task.done():
            task.result()  # uvicorn's own error (it logs it)
            raise OSError(f"the console could not listen on {settings.host}:{settings.port}")
        await asyncio.sleep(0.02)
    return console, task


def apply_settings(console: uvicorn.Server, new: WebSettings) -> list[str]:
    """A reload (SIGHUP) of a running console: the session timeouts take effect for every session from the next
    request on; what needs the listener or the key built again (``web.listen``, ``web.tls_cert``/``tls_key``,
    ``web.key_file``) is kept as it is and returned by name, for the caller to say "restart to apply"."""
    app: Any = console.config.app  # uvicorn types its application loosely: it is ours, made by create_app
    context = app.state.console
    assert isinstance(context, Console)
    old = context.settings
    pending = [name for name, changed in (
        ("web.listen", (old.host, old.port) != (new.host, new.port)),
        ("web.tls_cert", old.tls_cert != new.tls_cert), ("web.tls_key", old.tls_key != new.tls_key),
        ("web.key_file", old.key_file != new.key_file)) if changed]
    context.settings = replace(new, host=old.host, port=old.port, tls_cert=old.tls_cert, tls_key=old.tls_key,
                               key_file=old.key_file)
    context.sessions.idle = new.idle_timeout
    context.sessions.absolute = new.absolute_timeout
    return pending


async def stop(console: uvicorn.Server, task: asyncio.Task[None]) -> None:
    console.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


__all__ = ["apply_settings", "server", "start", "stop"]

"""Serving the recipient portal with uvicorn in the caller's event loop, on its own listener (``[portal] listen``):
alone (`mailseal portal serve`) or beside the gateway and the console (`mailseal serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ..policy.portal_settings import PortalSettings
from ..store.database import Store
from .server import _Server, listening_socket


def server(app: FastAPI, host: str, port: int, tls_cert: Path | None = None,
           tls_key: Path | None = None) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, proxy_headers=False,
                            ssl_certfile=str(tls_cert) if tls_cert else None,
                            ssl_keyfile=str(tls_key) if tls_key else None)
    return _Server(config)


def for_settings(store: Store, settings: PortalSettings,
                 source: Callable[[], PortalSettings] | None = None) -> uvicorn.Server:
    """The portal's server for the ``[portal]`` settings, over ``store`` (the key from ``portal.key_file``);
    ``source`` gives the settings in force after a reload."""
    from .portal_app import create_portal_app

    return server(create_portal_app(store, settings, source=source), settings.host, settings.port, settings.tls_cert,
                  settings.tls_key)


def url(settings: PortalSettings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{'https' if settings.tls else 'http'}://{host}:{settings.port}/"


def bind(host: str, port: int) -> socket.socket:
    """The portal's listening socket (web/server.py ``listening_socket``, as the console's)."""
    return listening_socket(host, port)


async def start(served: uvicorn.Server, host: str, port: int) -> asyncio.Task[None]:
    """The portal listening (returns once it accepts connections); an OSError when the port cannot be opened."""
    sock = bind(host, port)
    task = asyncio.get_running_loop().create_task(served.serve(sockets=[sock]))
    while not served.started:
        if task.done():
            task.result()
            raise OSError(f"the portal could not listen on {host}:{port}")
        await asyncio.sleep(0.02)
    return task


async def stop(served: uvicorn.Server, task: asyncio.Task[None]) -> None:
    served.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


__all__ = ["bind", "for_settings", "server", "start", "stop", "url"]

"""A reload (SIGHUP) of a running console: session timeouts applied at once, listener and keys kept with their
names returned for "restart to apply" (web/server.py apply_settings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import uvicorn

from mailseal.web.server import apply_settings
from mailseal.web.settings import WebSettings
from tests.web.conftest import Console


def test_new_timeouts_apply_to_open_sessions_and_the_listener_is_kept(console: Console, tmp_path: Path) -> None:
    console.add("root")
    client = console.login("root")
    served = uvicorn.Server(uvicorn.Config(console.app))
    console.clock.advance(minutes=2)
    assert client.get("/").status_code == 200  # the default idle timeout (15 min) keeps it
    pending = apply_settings(served, WebSettings(port=18443, idle_timeout=timedelta(seconds=60),
                                                 key_file=tmp_path / "other.key"))
    assert pending == ["web.listen", "web.key_file"]
    state = console.app.state.console
    assert state.settings.port == WebSettings().port and state.settings.key_file is None
    assert state.settings.idle_timeout == timedelta(seconds=60)
    console.clock.advance(seconds=61)
    ended = client.get("/")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")


def test_an_unchanged_table_has_nothing_pending(console: Console) -> None:
    served = uvicorn.Server(uvicorn.Config(console.app))
    assert apply_settings(served, WebSettings(absolute_timeout=timedelta(hours=1))) == []
    assert console.app.state.console.sessions.absolute == timedelta(hours=1)

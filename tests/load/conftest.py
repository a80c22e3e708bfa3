"""The ``load`` marker (pyproject.toml is not ours to edit, so it is registered here) and the load fixtures' helpers."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "load: a multi-process load test (thousands of messages through a relay; deselect with -m 'not load')"
    )

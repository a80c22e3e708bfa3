"""Gateway fixtures: the test organisation, a sink, and a factory for running gateways."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.harness import Org, RunningGateway
from tests.support.smtp_sink import SmtpSink
from tests.support.testpki import TestPKI

StartGateway = Callable[..., RunningGateway]


@pytest.fixture(scope="session")
def org(pki: TestPKI) -> Org:
    return Org.make(pki)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture
def start_gateway(org: Org, sink: SmtpSink, tmp_path: Path) -> Iterator[StartGateway]:
    """start_gateway(settings=None, **kw): a running gateway relaying to ``sink``; stopped after the test."""
    with ExitStack() as stack:
        count = 0

        def start(settings: Mapping[str, Any] | None = None, **kw: Any) -> RunningGateway:
            nonlocal count
            count += 1
            home = tmp_path / f"gw{count}"
            home.mkdir()
            return stack.enter_context(RunningGateway(org, home, sink, settings, **kw))

        yield start

"""The interop corpus (../shared/corpus beside the repository): skip when absent, fail under MAILSEAL_REQUIRE_PEERS=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.corpus._support import CORPUS


@pytest.fixture(scope="session")
def corpus() -> Path:
    """Root of the shared corpus; every corpus test depends on it."""
    if not (CORPUS / "README.md").is_file():
        message = f"interop corpus not found at {CORPUS} (expected ../shared/corpus beside the repository)"
        if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
            pytest.fail(f"{message}, and MAILSEAL_REQUIRE_PEERS=1")
        pytest.skip(message)
    return CORPUS

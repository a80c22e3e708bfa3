"""Every crash the fuzzers found, replayed without atheris: the input that escaped untyped once must now end
in a typed ``MailsealError`` or be accepted (``tests/fuzz/regressions/TARGET-ID``, the input as libFuzzer saved
it). The focused tests of each fix sit beside the code it concerns (tests/pki/test_fuzz_findings.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from mailseal.errors import MailsealError
from tests.fuzz.targets import TARGETS

REGRESSIONS = sorted((Path(__file__).resolve().parent / "regressions").iterdir())


def _replay(target: str, data: bytes) -> None:
    with contextlib.suppress(MailsealError):
        TARGETS[target](data)


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_crash_input_now_ends_typed(path: Path) -> None:
    target = path.name.rsplit("-", 1)[0]
    assert target in TARGETS
    _replay(target, path.read_bytes())


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_crash_input_through_open_and_verify(path: Path) -> None:
    """The same bytes as a message: the high-level verbs refuse them typed as well."""
    for target in ("open", "verify"):
        _replay(target, path.read_bytes())

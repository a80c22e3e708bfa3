"""schemathesis against the /api/v1/ca operations with a CA present (the console-wide run has none, so it sees
only the 404s): no 5xx, every response as the OpenAPI document describes it. The CA passphrase comes from the
environment, so an issue that passes the CA's own checks signs for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mailseal.store.apitokens import ApiTokens
from mailseal.web import service_ca
from tests.web.ca_support import CA_PASSPHRASE, make_ca
from tests.web.conftest import Console, make_console

#: An address is a string in the schema; the CA refuses what is not a mailbox (400, the reason in the detail).
REFUSES_VALID_JSON = {"POST /api/v1/ca/certificates"}


@pytest.fixture
def ca_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Console, str]]:
    monkeypatch.setenv(service_ca.PASSPHRASE_ENV, CA_PASSPHRASE)
    for console in make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path):
        console.add("root")
        make_ca(console, tmp_path)
        raw, _ = ApiTokens(console.store).create("root", "schemathesis", "admin")
        yield console, raw


def test_the_ca_api_conforms(ca_console: tuple[Console, str]) -> None:
    console, token = ca_console
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", console.app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/ca"):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def conforms(case: Any) -> None:
            skip = [positive_data_acceptance] if case.operation.label in REFUSES_VALID_JSON else []
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=skip)

        conforms()
        tested.append(operation.label)
    assert sorted(tested) == ["GET /api/v1/ca", "GET /api/v1/ca/crl", "POST /api/v1/ca/certificates",
                              "POST /api/v1/ca/certificates/{serial}/revoke", "POST /api/v1/ca/crl"]
    directory = console.app.state.console.ca_directory
    assert (directory / "crl.der").is_file()  # the fuzzer's CRL requests signed for real

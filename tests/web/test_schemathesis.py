"""schemathesis against the console's OpenAPI document (/api/v1/openapi.json), authenticated with an API token:
no 5xx, and every response as the document describes it (status, content type, schema). A few examples per
operation keep it well under a minute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mailseal.store import audit
from mailseal.store.apitokens import ApiTokens
from tests.web.conftest import Console, make_console

#: Operations whose bodies are checked beyond their schema (a policy is validated as the settings file's is; an
#: identity's upload must be a PKCS#12 file its password opens, with the store passphrase configured).
REFUSES_VALID_JSON = {"PUT /api/v1/policy", "POST /api/v1/identities"}


@pytest.fixture
def token_console(tmp_path: Path) -> Iterator[tuple[Console, str]]:
    for console in make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path):
        console.add("root")
        console.add("eve", "auditor")
        tokens = ApiTokens(console.store)
        for n in range(5):  # ids 1-5: the fuzzer's favourite small ids revoke these, not the one it uses
            tokens.create("eve", f"spare {n}")
        raw, _ = tokens.create("root", "schemathesis", "admin")
        with console.store.session() as session:
            audit.record(session, "gateway.message", "<m@example.org>",
                         {"result": "refused", "reason": "no certificate", "actions": []}, "gateway")
        yield console, raw


def test_the_document_describes_api_v1(token_console: tuple[Console, str]) -> None:
    document = token_console[0].client().get("/api/v1/openapi.json").json()
    assert document["paths"] and all(p.startswith("/api/v1/") for p in document["paths"])
    assert {"/api/v1/dashboard", "/api/v1/audit", "/api/v1/admins"} <= set(document["paths"])
    problem = document["paths"]["/api/v1/audit"]["get"]["responses"]["422"]["content"]
    assert list(problem) == ["application/problem+json"]


def test_api_conforms(token_console: tuple[Console, str]) -> None:
    # Each operation is driven by hand (schemathesis's pytest fixture loader does not run under this pytest).
    console, token = token_console
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", console.app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def conforms(case: Any) -> None:
            # A policy table can be well-formed JSON and still be refused by Policy.from_settings (400, the reason
            # in the detail): that is the endpoint's job, not a schema violation.
            skip = [positive_data_acceptance] if case.operation.label in REFUSES_VALID_JSON else []
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=skip)

        conforms()
        tested.append(operation.label)
    assert len(tested) >= 10, tested

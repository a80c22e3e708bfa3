"""POST /api/v1/verify: the message as the body (message/rfc822, application/octet-stream) or a form; the page's
view as JSON with the verdict; problem details for bad input; read tokens may verify; audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mailseal.store.apitokens import ApiTokens
from mailseal.store.audit import events
from mailseal.web import service_verify
from tests.support.testpki import TestPKI
from tests.web.conftest import Console, csrf_of
from tests.web.verify_support import GARBAGE, REMOTE, Messages, messages, trust_test_root

RFC822 = {"Content-Type": "message/rfc822"}


@pytest.fixture(scope="module")
def built(pki: TestPKI) -> Messages:
    return messages(pki)


@pytest.fixture
def reader(console: Console, pki: TestPKI) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client with a read-scoped token of the auditor eve, over a console that trusts the test root."""
    trust_test_root(console.store, pki)
    console.add("eve", "auditor")
    raw, _ = ApiTokens(console.store).create("eve", "verifier", "read")
    yield console.client(), {"Authorization": f"Bearer {raw}"}


def post(reader: tuple[TestClient, dict[str, str]], body: bytes, kind: str = "message/rfc822") -> dict[str, object]:
    client, auth = reader
    answer = client.post("/api/v1/verify", content=body, headers={**auth, "Content-Type": kind})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    found = answer.json()
    assert isinstance(found, dict)
    return found


def test_valid_message(reader: tuple[TestClient, dict[str, str]], built: Messages) -> None:
    found = post(reader, built.valid)
    assert (found["verdict"], found["word"], found["tone"]) == ("valid", "Valid, revocation unknown", "good")
    assert found["message_id"] == "<t1@example.org>" and found["encrypted_for"] == []
    view = found["view"]
    assert isinstance(view, dict)
    signer = view["layers"][0]["signers"][0]
    assert signer["emails"] == ["alice@example.org"] and signer["chain_complete"] is True
    assert view["layers"][0]["covers"] == "text/plain" and view["layers"][0]["counts"] is True
    assert "PRIVATE KEY" not in json.dumps(found)


def test_octet_stream_and_form_bodies_give_the_same_verdict(reader: tuple[TestClient, dict[str, str]],
                                                           built: Messages) -> None:
    assert post(reader, built.tampered, "application/octet-stream")["verdict"] == "invalid-signature"
    client, auth = reader
    answer = client.post("/api/v1/verify", headers=auth, files={"file": ("m.eml", built.tampered)})
    assert answer.status_code == 200 and answer.json()["verdict"] == "invalid-signature"
    assert answer.json()["word"] == "Invalid: content altered"


def test_wrapped_part_is_not_valid_for_the_message(reader: tuple[TestClient, dict[str, str]],
                                                   built: Messages) -> None:
    found = post(reader, built.wrapped)
    assert found["verdict"] == "not-signed" and found["word"] == "Not signed: only a part is signed"
    view = found["view"]
    assert isinstance(view, dict) and view["signed"] is False and view["nested_parts"]


def test_encrypted_message_lists_its_recipients(reader: tuple[TestClient, dict[str, str]], built: Messages,
                                                pki: TestPKI) -> None:
    found = post(reader, built.encrypted)
    assert found["verdict"] == "encrypted" and found["view"] is None
    recipients = found["encrypted_for"]
    assert isinstance(recipients, list) and len(recipients) == 1
    assert "issued by" in recipients[0] and "Intermediate" in recipients[0]
    assert "mailseal open" in str(found["headline"])


def test_html_is_not_echoed(reader: tuple[TestClient, dict[str, str]], built: Messages) -> None:
    text = json.dumps(post(reader, built.html))
    assert REMOTE not in text and "<script>" not in text and "rendered words" not in text


@pytest.mark.parametrize("garbage", GARBAGE, ids=["empty", "blank", "der-like", "broken-cms"])
def test_garbage_is_a_problem(reader: tuple[TestClient, dict[str, str]], garbage: bytes) -> None:
    client, auth = reader
    answer = client.post("/api/v1/verify", content=garbage, headers={**auth, **RFC822})
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] in ("usage", "malformed-cms", "malformed-mime", "malformed-input"), problem
    assert problem["detail"] and "Traceback" not in answer.text


def test_other_media_types_and_huge_bodies_are_refused(reader: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = reader
    answer = client.post("/api/v1/verify", json={"message": "x"}, headers=auth)
    assert answer.status_code == 415 and answer.headers["content-type"] == "application/problem+json"
    huge = b"x" * (service_verify.MAX_MESSAGE + 1)
    answer = client.post("/api/v1/verify", content=huge, headers={**auth, **RFC822})
    assert answer.status_code == 413 and "25 MiB" in answer.json()["detail"]


def test_verifications_are_audited_with_the_token(console: Console,
                                                  reader: tuple[TestClient, dict[str, str]],
                                                  built: Messages) -> None:
    post(reader, built.valid)
    recorded = events(console.store, service_verify.ACTION)
    assert [(e.subject, e.detail["verdict"]) for e in recorded] == [("<t1@example.org>", "valid")]
    assert recorded[0].actor.startswith("web:eve token ")


def test_a_cookie_call_needs_the_csrf_header(console: Console, root: TestClient, built: Messages) -> None:
    assert root.post("/api/v1/verify", content=built.valid, headers=RFC822).status_code == 403
    answer = root.post("/api/v1/verify", content=built.valid, headers={**RFC822, "X-CSRF-Token": csrf_of(root)})
    assert answer.status_code == 200 and answer.json()["verdict"] != "valid"  # the test root is not trusted here


def test_without_a_valid_token_it_is_refused(console: Console, built: Messages) -> None:
    plain = console.client()
    assert plain.post("/api/v1/verify", content=built.valid, headers=RFC822).status_code == 403  # no CSRF token
    answer = plain.post("/api/v1/verify", content=built.valid, headers={**RFC822, "Authorization": "Bearer mst_x"})
    assert answer.status_code == 401
    assert events(console.store, service_verify.ACTION) == []

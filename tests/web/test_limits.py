"""Numbers a request names are bounded where the database's integers end: a 422 with problem details, never a 500
(schemathesis found `DELETE /api/v1/tokens/<20 digits>` answering 500: SQLite cannot hold the integer)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.web.conftest import csrf_of

HUGE = str(1 << 70)


def test_a_huge_token_id_is_refused_as_invalid(root: TestClient) -> None:
    answer = root.delete(f"/api/v1/tokens/{HUGE}", headers={"X-CSRF-Token": csrf_of(root)})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_huge_offsets_are_refused_as_invalid(root: TestClient) -> None:
    for path in ("/api/v1/audit", "/api/v1/held", "/api/v1/certificates", "/audit", "/certificates"):
        answer = root.get(path, params={"offset": HUGE})
        assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
    assert root.get("/api/v1/audit", params={"offset": str((1 << 31) - 1)}).status_code == 200

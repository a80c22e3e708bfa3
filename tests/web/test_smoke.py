from __future__ import annotations

from tests.web.conftest import Console


def test_login_and_pages(console: Console) -> None:
    console.add("root")
    c = console.login("root")
    for path in ("/", "/audit", "/admins", "/sessions", "/api/v1/dashboard", "/api/v1/audit", "/api/v1/openapi.json"):
        r = c.get(path)
        assert r.status_code == 200, (path, r.text)

"""The verify page and POST /api/v1/verify open uploads within the settings' ``[limits]`` (issue 17 point 3), not
the library's defaults: a lowered limit gives the limit-exceeded answer with its code and a sentence, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import mailseal
from mailseal.limits import Limits
from mailseal.store.apitokens import ApiTokens
from mailseal.store.audit import events
from mailseal.web import service_verify
from mailseal.web.settings import parse_web
from tests.support.messages import ident
from tests.support.testpki import TestPKI
from tests.web.conftest import Console, csrf_of, make_console
from tests.web.verify_support import trust_test_root

PARTS = 6


def many_parts(pki: TestPKI) -> bytes:
    """A multipart/mixed message of six text parts and a signature part within it (a signed part below the root
    is walked part by part: limits.max_parts bounds that walk), within the default of 1000 parts."""
    signed_part = mailseal.sign(b"Content-Type: text/plain\r\n\r\nsigned part\r\n", ident(pki.user("alice")),
                                allow_from_mismatch=True)
    head, _, body = signed_part.partition(b"\r\n\r\n")
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(PARTS))
    return (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: parts\r\nMessage-ID: <parts@example.org>\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n' + parts
            + b"--p\r\n" + head + b"\r\n\r\n" + body + b"\r\n--p--\r\n")


@pytest.fixture
def strict(tmp_path: Path, pki: TestPKI) -> Iterator[Console]:
    """A console whose settings lower limits.max_parts below the message's part count."""
    limits = parse_web({"limits": {"max_parts": 3}}).limits
    assert limits == Limits(max_parts=3)  # read by the one [limits] parser (mailseal.limits)
    for made in make_console(f"sqlite:///{tmp_path / 'mailseal.db'}", tmp_path, limits=limits):
        trust_test_root(made.store, pki)
        yield made


def test_the_default_limits_verify_it(console: Console, root: TestClient, pki: TestPKI) -> None:
    """The same message under the default limits is verified: the refusal below comes from the setting."""
    trust_test_root(console.store, pki)
    answer = root.post("/verify", data={"csrf_token": csrf_of(root)},
                       files={"file": ("m.eml", many_parts(pki), "message/rfc822")})
    assert answer.status_code == 200 and 'id="report-verdict"' in answer.text


def test_page_says_limit_exceeded_with_its_code_and_sentence(strict: Console, pki: TestPKI) -> None:
    strict.add("root", "admin")
    client = strict.login("root")
    answer = client.post("/verify", data={"csrf_token": csrf_of(client)},
                         files={"file": ("m.eml", many_parts(pki), "message/rfc822")})
    assert answer.status_code == 400
    assert 'id="verify-error-code">error[limit-exceeded]</code>' in answer.text
    assert "more than 3 parts (limits.max_parts)" in answer.text and "Traceback" not in answer.text
    [event] = events(strict.store, service_verify.ACTION)
    assert event.detail["verdict"] == "unreadable (limit-exceeded)"


def test_api_answers_a_problem_with_the_code(strict: Console, pki: TestPKI) -> None:
    strict.add("eve", "auditor")
    raw, _ = ApiTokens(strict.store).create("eve", "verifier", "read")
    answer = strict.client().post("/api/v1/verify", content=many_parts(pki),
                                  headers={"Authorization": f"Bearer {raw}", "Content-Type": "message/rfc822"})
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "limit-exceeded" and "limits.max_parts" in problem["detail"]

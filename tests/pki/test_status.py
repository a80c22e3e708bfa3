"""One status vocabulary (issue 14): SignerStatus is what the report, the CLI, the stamps and harvesting speak."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import mailseal
from mailseal.cli.render import STATUS_WORDS, render
from mailseal.gateway.stamping import RESULTS, authentication_results
from mailseal.mime import STATUS_ORDER, SignerStatus
from mailseal.store.harvesting import HARVESTABLE
from tests.support.messages import MESSAGE, ident
from tests.support.testpki import TestPKI

SRC = Path(mailseal.__file__).resolve().parent
#: Modules where a status may only be named through the enum (others hold other vocabularies with the same words,
#: e.g. a revocation state "revoked" or a CA's certificate status "expired").
STATUS_SPEAKERS = ["mime/report.py", "mime/judgement.py", "cli/render.py", "gateway/stamping.py", "store/harvesting.py"]


def test_the_statuses_are_worst_first_and_not_signed_is_the_message_level_one() -> None:
    assert STATUS_ORDER[0] is SignerStatus.INVALID_SIGNATURE and STATUS_ORDER[-1] is SignerStatus.VALID
    assert SignerStatus.NOT_SIGNED not in STATUS_ORDER
    assert set(STATUS_ORDER) | {SignerStatus.NOT_SIGNED} == set(SignerStatus)


def test_a_member_is_its_string_everywhere_it_is_written() -> None:
    status = SignerStatus.INVALID_SIGNATURE
    assert status == "invalid-signature" and status in {"invalid-signature"}
    assert f"{status}" == str(status) == "invalid-signature"
    assert json.dumps({"status": status}) == '{"status": "invalid-signature"}'
    assert {"invalid-signature": 1}[status] == 1


def test_every_renderer_knows_every_status() -> None:
    assert set(STATUS_WORDS) == set(SignerStatus)
    assert set(RESULTS) <= set(SignerStatus) and set(HARVESTABLE) <= set(SignerStatus)


def test_no_bare_status_string_is_left_where_statuses_are_spoken() -> None:
    values = {s.value for s in SignerStatus}
    bare = []
    for name in STATUS_SPEAKERS:
        for node in ast.walk(ast.parse((SRC / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in values:
                bare.append(f"{name}:{node.lineno}: {node.value!r}")
    assert bare == []


def test_a_verified_report_holds_members_and_prints_the_same_strings(pki: TestPKI) -> None:
    user = pki.user("alice", "ec-p256")
    signed = mailseal.sign(MESSAGE, ident(user))
    report = mailseal.verify(signed, trust=mailseal.TrustStore.from_files([pki.root_path]))
    assert report.status is SignerStatus.VALID and report.signers[0].status is SignerStatus.VALID
    assert report.to_dict()["status"] == "valid"
    assert json.loads(json.dumps(report.to_dict()))["signers"][0]["status"] == "valid"
    assert "status: valid" in render(report) and "signer 1: alice@example.org: VALID" in render(report)
    assert b" smime=pass " in authentication_results("mx.example", report).replace(b"\r\n\t", b" ")
    untrusted = mailseal.verify(signed)
    assert untrusted.status is SignerStatus.UNTRUSTED and not untrusted.valid
    assert mailseal.verify(MESSAGE).status is SignerStatus.NOT_SIGNED

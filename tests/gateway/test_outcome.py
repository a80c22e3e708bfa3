"""The typed pipeline: an Outcome per copy, read by the audit log and the metrics; pipeline.py threads no
``dict[str, Any]`` and tests no action strings (issue 14, point 4)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from mailseal.errors import ErrorCode
from mailseal.gateway.outcome import RELAYED, Outcome, Step

GATEWAY = Path(__file__).resolve().parents[2] / "src" / "mailseal" / "gateway"
POLICY = GATEWAY.parent / "policy"


def test_a_copy_with_no_step_was_relayed() -> None:
    assert Outcome().actions == [RELAYED]
    assert Outcome().to_dict() == {"actions": [RELAYED]}


def test_steps_keep_their_order_and_what_they_found() -> None:
    done = (Outcome().then(Step.SIGNED, signer="alice@example.org", digest="sha256")
            .then(Step.ENCRYPTED, cipher="aes256-gcm", key_transport="oaep", encrypted_for=2)
            .then(Step.SIGNED))
    assert done.actions == ["signed", "encrypted", "signed"]
    assert done.to_dict() == {"actions": ["signed", "encrypted", "signed"], "signer": "alice@example.org",
                              "digest": "sha256", "cipher": "aes256-gcm", "key_transport": "oaep",
                              "encrypted_for": 2}


def test_verification_names_the_status_and_errors_their_code() -> None:
    done = Outcome().then(Step.VERIFIED, signature="invalid-signature", signature_valid=False)
    assert done.actions == ["verified:invalid-signature"]
    broken = dataclasses.replace(Outcome(), verify_error=ErrorCode.MALFORMED_INPUT, verify_message="bad BER")
    assert broken.to_dict()["verify_error"] == "malformed-input"
    noted = Outcome().then(Step.DECRYPT_FAILED, decrypted=False).noting("not decrypted: no key")
    assert noted.to_dict() == {"actions": ["decrypt-failed"], "notes": ["not decrypted: no key"]}


def test_an_outcome_cannot_be_changed() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Outcome().signer = "mallory@example.org"  # type: ignore[misc]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def test_the_pipeline_threads_no_untyped_dicts() -> None:
    source = (GATEWAY / "pipeline.py").read_text()
    assert "dict[str, Any]" not in source and "Any" not in {n.id for n in ast.walk(_tree(GATEWAY / "pipeline.py"))
                                                           if isinstance(n, ast.Name)}


def test_the_pipeline_tests_no_action_strings() -> None:
    names = {str(s) for s in Step} | {RELAYED, "verified"}
    found = []
    for node in ast.walk(_tree(GATEWAY / "pipeline.py")):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            values = [node.left, *node.comparators]
            if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                found.append(ast.unparse(node))
    assert found == []


def test_policy_decisions_carry_no_magic_keys() -> None:
    """The engine's refusals name their deciding setting in a typed field, not a "decisive" key of a dict."""
    literals = {n.value for n in ast.walk(_tree(POLICY / "engine.py")) if isinstance(n, ast.Constant)}
    assert "decisive" not in literals

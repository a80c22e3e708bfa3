"""The verifier stays readable (issue 14): short functions, narrow exception handlers, SignerCheck by keyword."""

from __future__ import annotations

import ast
from pathlib import Path

import mailseal.cms.verification as verification

VERIFIER = Path(verification.__file__).resolve()
SRC = VERIFIER.parents[1]
MAX_FUNCTION_LINES = 50


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the ``def`` to the last line of the body (decorators not counted)."""
    return (node.end_lineno or node.lineno) - node.lineno + 1


def test_no_function_in_the_verifier_is_over_50_lines() -> None:
    functions = [n for n in ast.walk(_parse(VERIFIER)) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert len(functions) > 20  # the walk found the module's functions, not nothing
    too_long = {n.name: _length(n) for n in functions if _length(n) > MAX_FUNCTION_LINES}
    assert too_long == {}


def test_the_verifier_catches_no_broad_exception() -> None:
    """Each handler names what its call can raise; ``except Exception`` would hide a programming error."""
    broad = []
    for node in ast.walk(_parse(VERIFIER)):
        if not isinstance(node, ast.ExceptHandler):
            continue
        caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        if any(t is None or (isinstance(t, ast.Name) and t.id in ("Exception", "BaseException")) for t in caught):
            broad.append(node.lineno)
    assert broad == []


def test_signer_checks_are_built_by_keyword_everywhere() -> None:
    calls = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "SignerCheck":
                calls.append((path.relative_to(SRC).as_posix(), node.lineno, len(node.args)))
    assert calls, "no SignerCheck(...) call found: the test looks in the wrong place"
    assert [c for c in calls if c[2]] == []


def test_the_module_docstring_names_the_steps_in_file_order() -> None:
    doc = verification.__doc__ or ""
    source = VERIFIER.read_text(encoding="utf-8")
    steps = ["_read_signed_data", "_load_certificates", "check_signer", "_verify_raw"]
    assert all(f"``{name}``" in doc for name in steps)
    # Top-down: the entry point, then its steps; the byte readers (``_read_signed_data``) are grouped at the end.
    positions = [source.index(f"\ndef {name}(") for name in ("check_signed_data", "_load_certificates", "check_signer")]
    assert positions == sorted(positions)

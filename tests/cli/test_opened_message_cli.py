"""`mailseal decrypt` and `mailseal open -o` write a complete message: one MIME-Version (RFC 2045 §4), the outer
fields once, the inner entity's Content-* fields (issue 12, point 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.support.opened import KINDS, WRAPPINGS, assert_complete, build
from tests.support.testpki import TestPKI


@pytest.mark.parametrize("wrapping", list(WRAPPINGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_open_writes_a_complete_message(pki: TestPKI, run_cli: RunCli, tmp_path: Path, kind: str,
                                        wrapping: str) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    original = build(kind, alice.email, bob.email)
    sealed = tmp_path / "sealed.eml"
    sealed.write_bytes(WRAPPINGS[wrapping](original, alice, bob))
    out = tmp_path / "opened.eml"
    proc = run_cli("open", "--key", bob.p12_path, "--pass", "pass:test", "--trust", pki.root_path,
                   "-i", sealed, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert_complete(out.read_bytes(), KINDS[kind], original)


@pytest.mark.parametrize("kind", list(KINDS))
def test_decrypt_writes_a_complete_message(pki: TestPKI, run_cli: RunCli, tmp_path: Path, kind: str) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    original = build(kind, alice.email, bob.email)
    sealed = tmp_path / "sealed.eml"
    sealed.write_bytes(WRAPPINGS["encrypted"](original, alice, bob))
    out = tmp_path / "plain.eml"
    # -o FILE stages the plaintext into the output's temporary file; stdout goes through the other path
    to_file = run_cli("decrypt", "--key", bob.p12_path, "--pass", "pass:test", "-i", sealed, "-o", out)
    assert to_file.returncode == 0, to_file.stderr
    to_stdout = run_cli("decrypt", "--key", bob.p12_path, "--pass", "pass:test", "-i", sealed)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert out.read_bytes() == to_stdout.stdout
    assert_complete(to_stdout.stdout, KINDS[kind], original)


def test_open_to_stdout_writes_a_complete_message(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    original = build("mixed", alice.email, bob.email)
    sealed = WRAPPINGS["opaque-signed-in-encrypted"](original, alice, bob)
    proc = run_cli("open", "--key", bob.p12_path, "--pass", "pass:test", "--trust", pki.root_path,
                   "-o", "-", input=sealed)
    assert proc.returncode == 0, proc.stderr
    assert_complete(proc.stdout, "multipart/mixed", original)
    assert b"valid" in proc.stderr  # the report moved to stderr

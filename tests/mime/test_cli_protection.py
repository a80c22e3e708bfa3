"""The ``--protect-headers`` and ``--no-capabilities`` flags of ``mailseal sign`` and ``mailseal encrypt``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli
from tests.mime.protection_helpers import MESSAGE, PROTECTED, parse, signed_part
from tests.support.testpki import TestPKI


def test_cli_sign_protect_headers(pki: TestPKI, run_cli: RunCli) -> None:
    alice = pki.user("alice")
    proc = run_cli("sign", "--key", alice.key_path, "--cert", alice.cert_path, "--protect-headers", input=MESSAGE)
    assert proc.returncode == 0, proc.stderr
    part = parse(signed_part(proc.stdout))
    assert part.get_param("hp") == "clear" and part.get("Subject") == PROTECTED["Subject"]


def signed_attributes(run_cli: RunCli, signed: bytes) -> list[str]:
    inspected = run_cli("inspect", "--json", input=signed)
    assert inspected.returncode == 0, inspected.stderr
    layers = json.loads(inspected.stdout)["layers"]
    return [a for layer in layers for s in layer.get("signers", []) for a in s["signed_attributes"]]


def test_cli_sign_no_capabilities(pki: TestPKI, run_cli: RunCli) -> None:
    alice = pki.user("alice")
    args = ["sign", "--key", alice.key_path, "--cert", alice.cert_path]
    default = run_cli(*args, input=MESSAGE)
    assert "smime_capabilities" in signed_attributes(run_cli, default.stdout)
    proc = run_cli(*args, "--no-capabilities", input=MESSAGE)
    assert proc.returncode == 0, proc.stderr
    attributes = signed_attributes(run_cli, proc.stdout)
    assert "message_digest" in attributes and "smime_capabilities" not in attributes


def test_cli_encrypt_protect_headers_then_open(pki: TestPKI, run_cli: RunCli) -> None:
    bob = pki.user("bob")
    proc = run_cli("encrypt", "--to", bob.cert_path, "--protect-headers", input=MESSAGE)
    assert proc.returncode == 0, proc.stderr
    assert parse(proc.stdout).get("Subject") == "[...]"
    plain = run_cli("decrypt", "--key", bob.key_path, "--cert", bob.cert_path, input=proc.stdout)
    assert plain.returncode == 0, plain.stderr
    shown = parse(plain.stdout)
    assert shown.get("Subject") == PROTECTED["Subject"] and shown.get("HP-Outer") is None


def test_cli_sign_to_be_encrypted_then_encrypt(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice, bob = pki.user("alice"), pki.user("bob")
    sign = ["sign", "--key", alice.key_path, "--cert", alice.cert_path, "--chain", alice.chain_path,
            "--to-be-encrypted"]
    refused = run_cli(*sign, input=MESSAGE)
    assert refused.returncode == 2 and b"--protect-headers" in refused.stderr
    signed = run_cli(*sign, "--protect-headers", input=MESSAGE)
    assert signed.returncode == 0, signed.stderr
    part = parse(signed_part(signed.stdout))
    assert part.get_param("hp") == "cipher" and part.get("Subject") == PROTECTED["Subject"]
    sealed = run_cli("encrypt", "--to", bob.cert_path, "--protect-headers", input=signed.stdout)
    assert sealed.returncode == 0, sealed.stderr
    assert parse(sealed.stdout).get("Subject") == "[...]"
    out = tmp_path / "opened.eml"
    opened = run_cli("open", "--key", bob.key_path, "--cert", bob.cert_path, "--trust", pki.root_path, "-o", out,
                     input=sealed.stdout)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert b"status: valid" in opened.stdout
    assert parse(out.read_bytes()).get("Subject") == PROTECTED["Subject"]

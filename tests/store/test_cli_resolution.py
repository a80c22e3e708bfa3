"""`mailseal encrypt --to ADDR` and `mailseal sign --from ADDR` resolve through the store (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import RunCli
from tests.support.testpki import TestPKI

MESSAGE = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhello bob\r\n"


def env(home: Path) -> dict[str, str]:
    return {"MAILSEAL_HOME": str(home), "MAILSEAL_STORE_PASSPHRASE": "store secret"}


def test_encrypt_to_an_address_uses_the_directory(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    bob = pki.user("bob")
    home = tmp_path / "home"
    imported = run_cli("certs", "import", bob.cert_path, env=env(home))
    assert imported.returncode == 0, imported.stderr
    sealed = run_cli("encrypt", "--to", "bob@example.org", input=MESSAGE, env=env(home))
    assert sealed.returncode == 0, sealed.stderr
    assert b"authEnveloped-data" in sealed.stdout  # unknown capabilities: AES-256-GCM (RFC 8551 §2.7.1.2)
    plain = run_cli("decrypt", "--key", bob.key_path, "--cert", bob.cert_path, input=sealed.stdout)
    assert plain.returncode == 0 and plain.stdout.endswith(b"hello bob\r\n")


def test_encrypt_to_an_unknown_address_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    proc = run_cli("encrypt", "--to", "nobody@example.org", input=MESSAGE, env=env(tmp_path / "home"))
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.startswith(b"mailseal: error[recipient-unsuitable]: no usable certificate for nobody@")


def test_sign_from_an_address_uses_the_key_store(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice = pki.user("alice")
    home = tmp_path / "home"
    added = run_cli("keys", "import", alice.p12_path, "--pass", "pass:test", "--usage", "sign", env=env(home))
    assert added.returncode == 0, added.stderr
    signed = run_cli("sign", "--from", "alice@example.org", input=MESSAGE, env=env(home))
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "root.pem").write_bytes(pki.root_cert.public_bytes(Encoding.PEM))
    report = run_cli("verify", "--trust", tmp_path / "root.pem", "--json", input=signed.stdout)
    assert report.returncode == 0
    assert json.loads(report.stdout)["signers"][0]["emails"] == ["alice@example.org"]


def test_sign_needs_exactly_one_of_key_and_from(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    proc = run_cli("sign", input=MESSAGE, env=env(tmp_path / "home"))
    assert proc.returncode == 2 and b"error[usage]" in proc.stderr


def test_verify_harvest_then_encrypt_to_the_signer(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    """Reading a validly signed message files the signer; a reply can then be encrypted to the address."""
    alice = pki.user("alice")
    home = tmp_path / "home"
    signed = run_cli("sign", "--key", alice.key_path, "--cert", alice.cert_path, "--chain", alice.chain_path,
                     input=MESSAGE)
    assert signed.returncode == 0
    before = run_cli("certs", "find", "alice@example.org", env=env(home))
    assert before.returncode == 1
    report = run_cli("verify", "--trust", pki.root_path, "--json", "--harvest", input=signed.stdout, env=env(home))
    assert report.returncode == 0, report.stderr
    harvested = json.loads(report.stdout)["harvest"]
    assert len(harvested["added"]) == 1
    after = run_cli("certs", "find", "alice@example.org", "--json", env=env(home))
    assert after.returncode == 0 and b"harvested" in after.stdout
    reply = run_cli("encrypt", "--to", "alice@example.org", input=MESSAGE, env=env(home))
    assert reply.returncode == 0, reply.stderr


def test_untrusted_signer_is_not_harvested(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice = pki.user("alice")
    home = tmp_path / "home"
    signed = run_cli("sign", "--key", alice.key_path, "--cert", alice.cert_path, input=MESSAGE)
    report = run_cli("verify", "--json", "--harvest", input=signed.stdout, env=env(home))
    assert report.returncode == 1  # no trust anchors: untrusted
    assert json.loads(report.stdout)["harvest"]["added"] == []
    assert run_cli("certs", "find", "alice@example.org", env=env(home)).returncode == 1


def test_encrypt_to_a_colleague_whose_key_the_store_holds(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    """An address of the organisation's own, with an encryption identity in the key store and nothing in the
    directory: `encrypt --to` finds its certificate there, as the gateway does, without the store's passphrase."""
    bob = pki.user("bob")
    home = tmp_path / "home"
    added = run_cli("keys", "import", bob.p12_path, "--pass", "pass:test", "--usage", "encrypt", env=env(home))
    assert added.returncode == 0, added.stderr
    listed = run_cli("certs", "list", "--json", env=env(home))
    assert listed.returncode == 0 and json.loads(listed.stdout)["certificates"] == []  # not in the directory
    no_passphrase = {"MAILSEAL_HOME": str(home)}
    sealed = run_cli("encrypt", "--to", "bob@example.org", input=MESSAGE, env=no_passphrase)
    assert sealed.returncode == 0, sealed.stderr
    plain = run_cli("decrypt", "--key", bob.key_path, "--cert", bob.cert_path, input=sealed.stdout)
    assert plain.returncode == 0 and plain.stdout.endswith(b"hello bob\r\n")

"""The command line with post-quantum keys (docs/pq.md): the CA's ML-KEM and ML-DSA certificates, `encrypt --to
ADDR` choosing among a correspondent's classical and ML-KEM certificates, and `policy explain` naming the mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.support.testpki import TestPKI

ADDRESS = "pat@partner.example"
MESSAGE = b"From: alice@example.org\r\nTo: pat@partner.example\r\nSubject: pq\r\n\r\nfor pat only\r\n"


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"MAILSEAL_HOME": str(home), "MAILSEAL_CA_PASSPHRASE": "ca pass", "MAILSEAL_STORE_PASSPHRASE": "store",
            **extra}


def _ok(proc: object) -> None:
    assert proc.returncode == 0, proc.stderr  # type: ignore[attr-defined]


def test_ca_issues_an_ml_kem_certificate_for_encryption_by_default(run_cli: RunCli, tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    _ok(run_cli("ca", "init", "--name", "PQ CA", "--key-type", "ml-dsa-87", env=env))
    proc = run_cli("ca", "issue", "--email", "bob@example.org", "--key-type", "ml-kem-1024", "-o", tmp_path / "bob.pem",
                   "--pass", "pass:pw", "--cert-out", tmp_path / "bob.crt", env=env)
    _ok(proc)
    assert b"(encrypt, ml-kem-1024," in proc.stdout
    assert (tmp_path / "bob.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    check = run_cli("certs", "check", tmp_path / "bob.crt", "--json", env=env)
    verdict = json.loads(check.stdout)
    assert (verdict["can_encrypt"], verdict["can_sign"]) == (True, False), verdict
    refused = run_cli("ca", "issue", "--email", "bob@example.org", "--key-type", "ml-kem-1024", "--usage", "sign",
                      "-o", tmp_path / "x.pem", "--pass", "pass:pw", env=env)
    assert refused.returncode == 2 and b"error[usage]" in refused.stderr and b"can only decrypt" in refused.stderr


@pytest.mark.parametrize("mode", ["hybrid", "prefer_pq"])
def test_encrypt_to_an_address_with_both_certificates(run_cli: RunCli, tmp_path: Path, pki: TestPKI,
                                                      mode: str) -> None:
    env = _env(tmp_path / "home")
    rsa_user, kem_user = pki.user("cli-pat-rsa", email=ADDRESS), pki.user("cli-pat-kem", "ml-kem-768", email=ADDRESS)
    for user in (rsa_user, kem_user):
        _ok(run_cli("certs", "import", user.cert_path, env=env))
    (tmp_path / "m.eml").write_bytes(MESSAGE)
    _ok(run_cli("encrypt", "--to", ADDRESS, "--post-quantum", mode, "-i", tmp_path / "m.eml", "-o",
                tmp_path / "e.eml", env=env))
    inspected = json.loads(run_cli("inspect", "--json", "-i", tmp_path / "e.eml", env=env).stdout)
    types = sorted(r["type"] for r in inspected["layers"][0]["recipients"])
    assert types == (["kemri", "ktri"] if mode == "hybrid" else ["kemri"])
    opened = run_cli("decrypt", "--key", kem_user.key_path, "--cert", kem_user.cert_path, "-i", tmp_path / "e.eml",
                     env=env)
    _ok(opened)
    assert b"for pat only" in opened.stdout


def test_policy_explain_names_the_post_quantum_mode(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "mailseal.toml"
    config.write_text('[gateway]\naccepted_domains = ["example.org"]\n[policy]\nencrypt = "if-possible"\n'
                      '[policy.smime]\npost_quantum = "require_pq"\n')
    args = ("policy", "explain", "--from", "alice@example.org", "--to", ADDRESS, "--assume-cert", ADDRESS,
            "--no-store", "--config", config)
    text = run_cli(*args, env=_env(tmp_path / "home"))
    _ok(text)
    assert b"post-quantum: require_pq (only ML-KEM certificates are used" in text.stdout
    as_json = json.loads(run_cli(*args, "--json", env=_env(tmp_path / "home")).stdout)
    assert as_json["post_quantum"] == "require_pq"
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy.smime]\npost_quantum = "quantum"\n')
    refused = run_cli("policy", "check", "--config", bad, env=_env(tmp_path / "home"))
    assert refused.returncode == 2 and b"post_quantum" in refused.stderr


def test_ca_bundle_into_the_key_store_then_sign_encrypt_open(run_cli: RunCli, tmp_path: Path) -> None:
    """The CA's PEM bundles go into the key store; `sign --from`, `encrypt --to ADDR` and `open` without --key use
    the sealed ML-DSA and ML-KEM keys there."""
    env = _env(tmp_path / "home")
    _ok(run_cli("ca", "init", "--name", "PQ CA", "--key-type", "ml-dsa-44", env=env))
    for who, key_type in (("alice", "ml-dsa-65"), ("bob", "ml-kem-768")):
        _ok(run_cli("ca", "issue", "--email", f"{who}@example.org", "--key-type", key_type, "-o",
                    tmp_path / f"{who}.pem", "--pass", "pass:pw", env=env))
        _ok(run_cli("keys", "import", tmp_path / f"{who}.pem", "--pass", "pass:pw", env=env))
    _ok(run_cli("ca", "export", "-o", tmp_path / "ca.pem", env=env))
    (tmp_path / "m.eml").write_bytes(b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: pq\r\n\r\nstored\r\n")
    _ok(run_cli("sign", "--from", "alice@example.org", "-i", tmp_path / "m.eml", "-o", tmp_path / "s.eml", env=env))
    _ok(run_cli("encrypt", "--to", "bob@example.org", "-i", tmp_path / "s.eml", "-o", tmp_path / "e.eml", env=env))
    opened = run_cli("open", "--trust", tmp_path / "ca.pem", "--json", "-i", tmp_path / "e.eml", env=env)
    _ok(opened)
    report = json.loads(opened.stdout)
    assert report["status"] == "valid"
    assert report["layers"][0]["key_algorithm"] == "ml_kem_768"
    assert report["signers"][0]["signature_algorithm"] == "ml_dsa_65"

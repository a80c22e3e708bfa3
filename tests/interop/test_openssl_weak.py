"""Weak and broken digests from a real signer (OpenSSL): SHA-1 is reported as weak, MD5 is refused."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunCli
from tests.support.peers import openssl_cms, require_peer
from tests.support.testpki import TestPKI

pytestmark = pytest.mark.interop


@pytest.mark.parametrize(
    ("digest", "status", "intact"),
    [
        pytest.param("sha1", "weak-algorithm", True, id="openssl-signs-rsa-sha1-mailseal-reports-weak"),
        pytest.param("md5", "invalid-signature", False, id="openssl-signs-rsa-md5-mailseal-refuses"),
    ],
)
def test_weak_digest_from_openssl(
    pki: TestPKI, run_cli: RunCli, digest: str, status: str, intact: bool
) -> None:
    require_peer("openssl")
    alice = pki.user("alice")
    signed = openssl_cms(
        "-sign", "-signer", alice.cert_path, "-inkey", alice.key_path, "-certfile", alice.chain_path,
        "-md", digest, input=b"Content-Type: text/plain\r\n\r\nhello\r\n",
    )
    proc = run_cli("verify", "--trust", pki.root_path, "--json", input=b"From: alice@example.org\r\n" + signed)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    signer = report["signers"][0]
    assert (signer["status"], signer["intact"], signer["digest_algorithm"]) == (status, intact, digest)
    assert any(digest.upper() in reason for reason in signer["reasons"])

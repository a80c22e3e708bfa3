"""mailseal's OID names for asn1crypto hold whatever was imported first (a full run failed the README example when
a test had used asn1crypto's KeyEncryptionAlgorithmId before mailseal.cms.asn1 registered its names)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import cli_env

SCRIPT = """
from asn1crypto import cms
cms.KeyEncryptionAlgorithmId("aes256_wrap")          # set up by asn1crypto before mailseal adds names
import mailseal.cms.asn1  # noqa: F401
from cryptography.hazmat.primitives.asymmetric import ec
from mailseal.cms.keyagreement import *  # noqa: F401,F403  (the module that names aes256_wrap in ECDH recipients)
assert cms.KeyEncryptionAlgorithmId("aes256_wrap").dotted == "2.16.840.1.101.3.4.1.45"
assert cms.KeyEncryptionAlgorithmId("dh_single_pass_stddh_sha256kdf").dotted == "1.3.132.1.11.1"
print("ok")
"""


def test_names_resolve_when_asn1crypto_was_used_first() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=cli_env(), capture_output=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == b"ok", proc.stderr.decode()

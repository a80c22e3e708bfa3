"""A few corpus checks through the command line (docs/cli.md): exit codes, JSON reports, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import RunCli

SAMPLE = b"This is some sample content."


def _report(stdout: bytes) -> dict[str, Any]:
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


def test_verify_rfc4134_4_8_json(corpus: Path, run_cli: RunCli) -> None:
    """Intact and chained to CarlDSS, but From (examples.com) is not the certificate's domain: not valid, exit 1."""
    r4134 = corpus / "rfc4134"
    proc = run_cli(
        "verify",
        "--trust",
        r4134 / "CarlRSASelf.cer",
        "--trust",
        r4134 / "CarlDSSSelf.cer",
        "--at",
        "2020-01-01T00:00:00Z",
        "--json",
        "-i",
        r4134 / "4.8.eml",
    )
    assert proc.returncode == 1, proc.stderr
    report = _report(proc.stdout)
    assert report["status"] == "address-mismatch"
    assert [(s["intact"], s["emails"]) for s in report["signers"]] == [(True, ["AliceDSS@example.com"])]


def test_verify_rfc9788_sample_valid(corpus: Path, run_cli: RunCli) -> None:
    ca = corpus / "rfc9216" / "from_wbond_certvalidator" / "Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem"
    proc = run_cli(
        "verify",
        "--trust",
        ca,
        "--at",
        "2021-02-20T15:01:02Z",
        "--json",
        "-i",
        corpus / "rfc9788_header_protection" / "smime-one-part.eml",
    )
    assert proc.returncode == 0, proc.stderr
    report = _report(proc.stdout)
    assert (report["status"], report["signed"]) == ("valid", True)


def test_verify_detached_ed25519_with_content(corpus: Path, run_cli: RunCli) -> None:
    ca = corpus / "rfc9216" / "from_wbond_certvalidator" / "Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem"
    signature = corpus / "ireland_examples_cms" / "binary-files" / "signedByCarlosDetached.p7m"
    proc = run_cli(
        "verify",
        "--trust",
        ca,
        "--at",
        "2024-01-01",
        "--json",
        "--content",
        corpus / "rfc4134" / "ExContent.bin",
        "-i",
        signature,
    )
    assert proc.returncode == 0, proc.stderr
    assert _report(proc.stdout)["status"] == "valid"


def test_verify_pkits_4_10_7_not_valid(corpus: Path, run_cli: RunCli) -> None:
    ossl = corpus / "openssl_tests" / "test"
    proc = run_cli(
        "verify",
        "--trust",
        ossl / "certs" / "pkitsta.pem",
        "--at",
        "2020-01-01",
        "--json",
        "-i",
        ossl / "smime-eml" / "SignedInvalidMappingFromanyPolicyTest7.eml",
    )
    assert proc.returncode == 1, proc.stderr
    assert _report(proc.stdout)["status"] == "untrusted"


def test_decrypt_ireland_x25519_hkdf(corpus: Path, run_cli: RunCli) -> None:
    keys = corpus / "ireland_examples_cms" / "certs-and-keys"
    proc = run_cli(
        "decrypt",
        "--key",
        keys / "lamps-dana.decrypt.p8.pem",
        "--cert",
        keys / "lamps-dana.encrypt.crt",
        "-i",
        corpus / "ireland_examples_cms" / "pem-encoded" / "authEnvelopedForDanaX25519HKDF.pem",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == SAMPLE


def test_decrypt_ireland_with_wrong_recipient(corpus: Path, run_cli: RunCli) -> None:
    keys = corpus / "ireland_examples_cms" / "certs-and-keys"
    proc = run_cli(
        "decrypt",
        "--key",
        keys / "lamps-bob.decrypt.p8.pem",
        "--cert",
        keys / "lamps-bob.encrypt.crt",
        "-i",
        corpus / "ireland_examples_cms" / "binary-files" / "authEnvelopedForDanaX25519HKDF.p7m",
    )
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("mailseal: error[no-matching-recipient]: ")


def test_decrypt_rc2_refused_with_one_line(corpus: Path, run_cli: RunCli) -> None:
    r4134 = corpus / "rfc4134"
    proc = run_cli(
        "decrypt",
        "--key",
        r4134 / "BobPrivRSAEncrypt.pri",
        "--cert",
        r4134 / "BobRSASignByCarl.cer",
        "-i",
        r4134 / "5.2.bin",
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailseal: error[unsupported-algorithm]: "), lines
    assert "Traceback" not in proc.stderr.decode()


def test_open_autocrypt_sign_and_encrypt(corpus: Path, run_cli: RunCli, tmp_path: Path) -> None:
    auto = corpus / "autocrypt_protected_headers"
    out = tmp_path / "inner.eml"
    proc = run_cli(
        "open",
        "--key",
        auto / "bob.p12.der",
        "--pass",
        "pass:bob",
        "--trust",
        auto / "sample-ca.pem",
        "--at",
        "2020-01-01",
        "--json",
        "-o",
        out,
        "-i",
        auto / "smime-sign+enc.eml",
    )
    assert proc.returncode == 0, proc.stderr
    report = _report(proc.stdout)
    assert (report["status"], report["encrypted"], report["signed"]) == ("valid", True, True)
    assert [layer["kind"] for layer in report["layers"]] == ["enveloped", "signed"]
    expected_body = (auto / "smime-sign+enc.inner.inner").read_bytes().split(b"\n\n", 1)[1]
    assert out.read_bytes().replace(b"\r\n", b"\n").endswith(expected_body)


def test_verify_no_md_attr_not_valid(corpus: Path, run_cli: RunCli) -> None:
    ossl = corpus / "openssl_tests" / "test"
    proc = run_cli(
        "verify",
        "--trust",
        ossl / "smime-certs" / "smroot.pem",
        "--at",
        "2020-01-01",
        "--json",
        "-i",
        ossl / "recipes" / "80-test_cms_data" / "no_md_attr.cms",
    )
    assert proc.returncode == 1, proc.stderr
    assert _report(proc.stdout)["status"] == "invalid-signature"

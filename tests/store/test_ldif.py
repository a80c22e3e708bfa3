"""`mailseal certs import FILE.ldif`: certificates from an address-book export (RFC 2849)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from mailseal.store.ldif import certificates_from_ldif, looks_like_ldif
from tests.conftest import RunCli
from tests.support.testpki import TestPKI


def folded(attribute: str, value: bytes) -> str:
    """attribute:: base64, folded at 76 columns as LDIF writers do."""
    line = f"{attribute}:: {base64.b64encode(value).decode()}"
    return "\n ".join(line[i : i + 76] for i in range(0, len(line), 76))


def export(pki: TestPKI) -> bytes:
    frank, grace = pki.user("ldif-frank"), pki.user("ldif-grace")
    bundle = pkcs7.serialize_certificates([grace.cert, *grace.chain], Encoding.DER)
    return "\n".join([
        "version: 1",
        "# exported address book",
        f"dn: cn=frank,dc=example,dc=org\nmail: {frank.email}",
        folded("userCertificate;binary", frank.cert.public_bytes(Encoding.DER)),
        "",
        f"dn: cn=grace,dc=example,dc=org\nmail: {grace.email}",
        folded("userSMIMECertificate", bundle),
        "",
        "dn: cn=henry,dc=example,dc=org",
        "userCertificate;binary:: bm90IGEgY2VydGlmaWNhdGU=",
        "userCertificate;binary:< file:///etc/passwd",
        "",
    ]).encode()


def test_ldif_yields_each_certificate_and_reasons(pki: TestPKI) -> None:
    data = export(pki)
    assert looks_like_ldif(data)
    certs, skipped = certificates_from_ldif(data)
    emails = {c.subject.rfc4514_string() for c in certs}
    assert any("ldif-frank" in e for e in emails) and any("ldif-grace" in e for e in emails)
    assert len(skipped) == 2
    assert any("URL" in reason for reason in skipped) and all("henry" in reason for reason in skipped)


def test_cli_imports_an_ldif_export(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    ldif = tmp_path / "book.ldif"
    ldif.write_bytes(export(pki))
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    proc = run_cli("certs", "import", ldif, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    imported = {a for entry in summary["imported"] for a in entry["addresses"]}
    assert {"ldif-frank@example.org", "ldif-grace@example.org"} <= imported
    assert len(summary["skipped"]) >= 2
    assert run_cli("certs", "find", "ldif-frank@example.org", env=env).returncode == 0

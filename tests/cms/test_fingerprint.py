"""One certificate fingerprint (SHA-256 of the DER, lower-case hex), defined in cms/identity.py and used everywhere."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from mailseal.cms.identity import dedupe, fingerprint
from mailseal.pki import trustlist
from mailseal.pki.certfields import certificate_fields
from mailseal.store import directory
from tests.support.testpki import TestPKI

SRC = Path(__file__).resolve().parents[2] / "src" / "mailseal"


def test_fingerprint_is_sha256_of_der_in_lowercase_hex(pki: TestPKI) -> None:
    cert = pki.root_cert
    assert fingerprint(cert) == hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def test_one_definition_in_src() -> None:
    texts = {str(p.relative_to(SRC)): p.read_text(encoding="utf-8") for p in SRC.rglob("*.py")}
    assert sorted(path for path, text in texts.items() if re.search(r"^def _?fingerprint\(", text, re.M)) == [
        "cms/identity.py"
    ]
    assert sorted(path for path, text in texts.items() if re.search(r"fingerprint\(hashes\.SHA256\(\)\)", text)) == [
        "cms/identity.py"
    ]


def test_trust_lists_directory_and_reports_use_it(pki: TestPKI) -> None:
    assert trustlist.fingerprint is fingerprint
    assert directory.fingerprint is fingerprint
    assert certificate_fields(pki.root_cert).fingerprint_sha256 == fingerprint(pki.root_cert)


def test_dedupe_keeps_the_first_of_equal_certificates(pki: TestPKI) -> None:
    assert dedupe([pki.root_cert, pki.root_cert]) == [pki.root_cert]

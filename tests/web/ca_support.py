"""An internal CA made by the test in its tmp folder (``CertificateAuthority.create``, P-256 keys so that it is
quick), handed to the console as its CA directory; helpers to issue through the API."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from starlette.testclient import TestClient

from mailseal.pki.authority import CertificateAuthority
from tests.web.conftest import Console, csrf_of

CA_PASSPHRASE = "the CA passphrase 7"
P12_PASSWORD = "p12 password 99"
CRL_URL = "http://pki.example.org/ca.crl"
OCSP_URL = "http://ocsp.example.org/"


def make_ca(console: Console, tmp_path: Path, *, ocsp_url: str | None = OCSP_URL) -> CertificateAuthority:
    """A CA in ``tmp_path/ca``, which the console then takes as its CA directory."""
    ca = CertificateAuthority.create("mailseal Test Internal CA", CA_PASSPHRASE.encode(), directory=tmp_path / "ca",
                                     key_type="p256", days=3650, crl_url=CRL_URL, ocsp_url=ocsp_url)
    console.app.state.console.ca_directory = tmp_path / "ca"
    return ca


def issue(client: TestClient, email: str, **body: object) -> object:
    payload = {"email": email, "usage": "dual", "key_type": "p256", "days": 30, "pkcs12_password": P12_PASSWORD,
               "ca_passphrase": CA_PASSPHRASE, **body}
    return client.post("/api/v1/ca/certificates", json=payload, headers={"X-CSRF-Token": csrf_of(client)})


def opened(answer: dict[str, object], password: str = P12_PASSWORD) -> x509.Certificate:
    """The certificate in the PKCS#12 of an issue answer, opened with ``password`` (a key must be in it too)."""
    data = base64.b64decode(str(answer["pkcs12"]))
    key, cert, _ = pkcs12.load_key_and_certificates(data, password.encode())
    assert key is not None and cert is not None
    return cert

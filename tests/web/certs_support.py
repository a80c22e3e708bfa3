"""Certificate files in every format the console's Certificates and Trust pages take, written by the test PKI and
by mailseal's own writers (SST: pki.sst; LDIF: store.publishing), and a re-authentication helper."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from starlette.testclient import TestClient

from mailseal.pki.sst import write_sst
from mailseal.store.publishing import PublishedCertificate, Selection, ldif
from tests.support.testpki import TestPKI, User
from tests.web.conftest import PASSWORD, csrf_of

FINGERPRINT_LINK = re.compile(r'href="/certificates/([0-9a-f]{64})"')


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def files_of(pki: TestPKI, user: User) -> dict[str, tuple[str, bytes]]:
    """(file name, bytes) of ``user``'s certificate in each format; P7B and SST carry the chain too."""
    chain = [user.cert, *user.chain]
    selection = Selection((PublishedCertificate(user.email, user.cert),), (), datetime.now(UTC))
    return {
        "pem": (f"{user.name}.pem", pem(user.cert)),
        "der": (f"{user.name}.cer", user.cert.public_bytes(Encoding.DER)),
        "p7b": (f"{user.name}.p7b", pkcs7.serialize_certificates(chain, Encoding.DER)),
        "sst": (f"{user.name}.sst", write_sst(chain, friendly_names=True)),
        "ldif": (f"{user.name}.ldif", ldif(selection, "ou=people,dc=example,dc=org").encode()),
        "p12": (f"{user.name}.p12", user.p12_path.read_bytes()),
    }


def reauth(client: TestClient) -> None:
    """Give the password again (POST /reauth), as the page asks before a change to trust."""
    answer = client.post("/reauth", data={"password": PASSWORD, "csrf_token": csrf_of(client), "next": "/trust"})
    assert answer.status_code == 303, answer.text

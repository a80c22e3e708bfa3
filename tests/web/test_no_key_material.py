"""No route of the console returns a private key: with real identities (the test PKI's RSA and EC PKCS#12 files)
imported into the console's store, EVERY GET route of the application (enumerated from ``app.routes``, so a route
added later is covered) is requested with an admin session and an admin token, path parameters filled from real
objects, and each answer is searched for the keys in every encoding (PKCS#8 and PKCS#1/SEC1 DER, their base64 and
hex, PEM, the raw private numbers as bytes, hex, base64 and decimal, the PKCS#12 file itself)."""

from __future__ import annotations

import base64
import itertools
import re
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from mailseal.cms.identity import fingerprint
from mailseal.pki.authority import CertificateAuthority
from mailseal.store.apitokens import ApiTokens
from mailseal.store.ca_register import open_authority
from mailseal.store.portal import PortalStore
from mailseal.store.portal_key import portal_key
from mailseal.store.users import Users
from mailseal.web.service_identities import FIELDS
from tests.support.testpki import TestPKI, User
from tests.web.certs_support import pem
from tests.web.conftest import Console, csrf_of
from tests.web.identities_support import api_import, give_passphrase
from tests.web.test_security import api_routes

#: GET routes whose path parameter names something this console cannot hold here: a held message needs the
#: gateway's queue (the app is built without one), a verify download token exists only for the minutes after a
#: verification. Every other route is requested.
UNFILLABLE = {"/held/{held_id}", "/api/v1/held/{held_id}", "/verify/download/{token}"}
#: Routes that answer something other than 200 here (still searched): the second factor is given already, and
#: there is no gateway queue of held messages.
NOT_OK = {"/login/totp": 303, "/api/v1/held": 404}


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _encodings(blob: bytes) -> Iterator[bytes]:
    """``blob`` as it could appear in a response: raw, hex (both cases), base64 (standard and URL-safe, also as
    the first line of a PEM body), with or without padding."""
    yield blob
    yield blob.hex().encode()
    yield blob.hex().upper().encode()
    b64 = base64.b64encode(blob)
    yield b64.rstrip(b"=")
    yield base64.urlsafe_b64encode(blob).rstrip(b"=")
    yield b64[:64]  # a PEM body's first line


def secrets_of(user: User) -> dict[str, bytes]:
    """Every encoding of ``user``'s private key to search for, named for the failure message."""
    key = user.key
    blobs = {
        "PKCS#8 DER": key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()),
        "PKCS#1/SEC1 DER": key.private_bytes(Encoding.DER, PrivateFormat.TraditionalOpenSSL, NoEncryption()),
        "PKCS#12 file": user.p12_path.read_bytes(),
    }
    numbers: dict[str, int] = {}
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        numbers = {"RSA d": n.d, "RSA p": n.p, "RSA q": n.q, "RSA dmp1": n.dmp1, "RSA iqmp": n.iqmp}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = {"EC private value": key.private_numbers().private_value}
    else:
        raise AssertionError(f"unexpected key type {user.key_type}")
    for name, value in numbers.items():
        blobs[name] = _int_bytes(value)
    found: dict[str, bytes] = {}
    for name, blob in blobs.items():
        for i, encoded in enumerate(_encodings(blob)):
            found[f"{name} ({['raw', 'hex', 'HEX', 'base64', 'base64url', 'PEM line'][i]})"] = encoded
    for name, value in numbers.items():
        found[f"{name} (decimal)"] = str(value).encode()
    for name in ("PKCS#8 DER", "PKCS#1/SEC1 DER"):
        pem_body = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8 if name.startswith("PKCS#8")
                                     else PrivateFormat.TraditionalOpenSSL, NoEncryption())
        found[f"{name} (PEM)"] = pem_body
    return found


def _choices(annotation: Any) -> list[str]:
    """The values of a ``Literal`` parameter (``Literal[...] | None`` included); [] for any other type."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in args]
    return [str(a) for arg in args if typing.get_origin(arg) is typing.Literal for a in typing.get_args(arg)]


def requests_of(route: APIRoute, values: dict[str, list[str]]) -> list[tuple[str, dict[str, str]]]:
    """(path, query) for ``route``: every combination of the path parameters' real values, and each value of a
    query parameter that takes a fixed set of them (export formats), with the query parameters ``values`` names
    (a domain, a base DN); [] when a path parameter cannot be filled."""
    options = []
    for param in route.dependant.path_params:
        choices = _choices(param.field_info.annotation) or values.get(param.name, [])
        if not choices:
            return []
        options.append([(param.name, c) for c in choices])
    base = {p.name: values[p.name][0] for p in route.dependant.query_params if p.name in values}
    queries: list[dict[str, str]] = [base]
    for param in route.dependant.query_params:
        queries += [{**base, param.name: c} for c in _choices(param.field_info.annotation)]
    found = []
    for combination in itertools.product(*options):
        path = route.path
        for name, value in combination:
            path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", value, path)
        found += [(path, query) for query in queries]
    return found


@pytest.fixture
def held_keys(console: Console, root: TestClient, pki: TestPKI, monkeypatch: pytest.MonkeyPatch
              ) -> tuple[list[User], dict[str, list[str]], str]:
    """RSA and EC identities in the console's store (imported through the API with an admin token), their
    certificates in the directory and the test root in the trust list: the users, the values that fill path
    parameters, and the token."""
    give_passphrase(monkeypatch)
    token, _ = ApiTokens(console.store).create("root", "key test", "admin")
    bearer = {"Authorization": f"Bearer {token}"}
    users = [pki.user("keyrsa"), pki.user("keyec", "ec-p256")]
    ids = []
    for user in users:
        made = api_import(root, user, headers=bearer)
        assert made.status_code == 201, made.text
        body = made.content
        for name, needle in secrets_of(user).items():
            assert needle not in body, f"the import's answer holds {name}"
        ids += [str(item["id"]) for item in made.json()["imported"]]
        # the same PKCS#12 file into the certificate directory: only its certificate may be kept
        into_directory = root.post("/api/v1/certificates", files={"file": (f"{user.name}.p12",
                                                                          user.p12_path.read_bytes())},
                                   data={"password": "test"}, headers=bearer)
        assert into_directory.status_code in (200, 201), into_directory.text
    added = root.post("/api/v1/trust", files={"file": ("root.pem", pem(pki.root_cert))}, headers=bearer)
    assert added.status_code == 200 and added.json()["added"], added.text
    # an internal CA with a published CRL, so that the CA's pages answer too
    ca_dir = console.app.state.console.ca_directory
    CertificateAuthority.create("Key test CA", "ca passphrase", directory=ca_dir, key_type="p256")
    with open_authority(ca_dir, "ca passphrase", store=console.store) as ca:
        ca.issue("keyca@example.org", key_type="p256")
        ca.crl(7)
    Users(console.store).add("submitter", b"a long submission password", ["keyrsa@example.org"])
    # a message in the recipient portal, so that the Portal page's message answers too
    portal = PortalStore(console.store, portal_key()).deposit(b"Subject: kept\r\n\r\nsealed\r\n",
                                                                "keyrsa@example.org", ["dave@outside.example"],
                                                                brand="example.org")
    values = {"message_id": [portal.id], "identity_id": ids, "fingerprint": [fingerprint(u.cert) for u in users],
              "domain": ["example.org"], "base_dn": ["ou=people,dc=example,dc=org"], "username": ["submitter"],
              "name": ["root"]}
    return users, values, token


def test_no_get_route_returns_private_key_material(console: Console, root: TestClient,
                                                   held_keys: tuple[list[User], dict[str, list[str]], str]) -> None:
    users, values, token = held_keys
    needles = {f"{u.name}: {name}": needle for u in users for name, needle in secrets_of(u).items()}
    routes = [r for r in api_routes(console.app.routes) if "GET" in r.methods]
    assert len(routes) >= 30  # the enumeration itself works
    unfilled, asked = set(), 0
    statuses: dict[str, set[int]] = {}
    for route in routes:
        targets = requests_of(route, values)
        if not targets:
            unfilled.add(route.path)
            continue
        for path, query in targets:
            callers = [("session", root, {})]
            if path.startswith("/api/"):
                callers.append(("token", root, {"Authorization": f"Bearer {token}"}))
            for how, client, headers in callers:
                answer = client.get(path, params=query, headers=headers)
                asked += 1
                statuses.setdefault(route.path, set()).add(answer.status_code)
                seen = answer.content + "".join(f"{k}: {v}\n" for k, v in answer.headers.items()).encode()
                for name, needle in needles.items():
                    assert needle not in seen, f"GET {path} {query} ({how}) returned {name}"
                assert b"PRIVATE KEY" not in seen, f"GET {path} {query} ({how}) returned a PEM private key"
    assert unfilled == UNFILLABLE, sorted(unfilled)
    assert asked >= 60
    for path, codes in statuses.items():
        assert codes == {NOT_OK.get(path, 200)}, (path, codes)
    # the identity pages show what is held: the search above looked at real content
    listing = root.get("/api/v1/identities").json()["items"]
    assert {i["address"] for i in listing} == {"keyrsa@example.org", "keyec@example.org"}
    assert all(set(item) == set(FIELDS) for item in listing)
    assert all(re.fullmatch(r"[0-9a-f]{64}", i["fingerprint_sha256"]) for i in listing)
    assert csrf_of(root)  # still signed in after every route


def test_the_documented_identity_fields_are_metadata_only(console: Console) -> None:
    document = console.client().get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert set(schemas["IdentityOut"]["properties"]) == set(FIELDS)
    assert not any("key" in name and name not in ("key_location", "key_location_text") for name in FIELDS)
    listed = document["paths"]["/api/v1/identities"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/IdentityPageOut")

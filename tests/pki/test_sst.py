"""Microsoft serialized certificate stores (.sst): round trips, the byte layout, and refusal of malformed stores.

The layout checked here is the one [MS-OSHARED] §2.3.2.5 documents and Wine's crypt32 implements
(dlls/crypt32/serialize.c): the header ``00 00 00 00 43 45 52 54``, then per certificate zero or more property
elements and the certificate element (id 0x20), each ``id, encoding type, length`` as little-endian 32-bit
integers followed by the value, and an end marker of twelve zero bytes. Wine's test suite (crypt32/tests/store.c,
``serializedStoreWithCert``, checked on Windows against ``CertSaveStore``) records exactly that shape for a
store holding one certificate without properties; `test_one_certificate_has_the_windows_layout` compares ours to it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mailseal.errors import CertificateError, ErrorCode
from mailseal.pki.sst import iter_elements, read_sst, write_sst
from tests.conftest import CORPUS_DIR
from tests.support.testpki import TestPKI

PKCS7_DIR = CORPUS_DIR / "pyca_pkcs7"
HEADER = bytes.fromhex("00000000 43455254")
END = bytes(12)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def element(prop_id: int, value: bytes, encoding: int = 1) -> bytes:
    return struct.pack("<III", prop_id, encoding, len(value)) + value


@pytest.fixture(scope="module")
def certs(pki: TestPKI) -> list[x509.Certificate]:
    """Roots, intermediates and end entities with RSA, ECDSA and Ed25519 keys."""
    return [
        pki.root_cert,
        pki.intermediate_cert,
        pki.ec_intermediate_cert,
        pki.user("alice").cert,
        pki.user("bob", "ec-p256").cert,
        pki.user("erin", "ed25519").cert,
    ]


# -- an independent reader of the documented layout (deliberately not read_sst) ------------------------


@dataclass
class Group:
    properties: list[tuple[int, int, bytes]]
    certificate: bytes


def parse_documented_layout(data: bytes) -> list[Group]:
    assert data[:8] == HEADER, data[:8].hex()
    pos, groups, props = 8, [], []
    while True:
        prop_id, encoding, length = struct.unpack_from("<III", data, pos)
        pos += 12
        if prop_id == 0:
            assert (encoding, length) == (0, 0)
            assert pos == len(data), "bytes after the end marker"
            assert not props, "properties without a certificate"
            return groups
        value = data[pos : pos + length]
        assert len(value) == length
        pos += length
        if prop_id == 0x20:
            assert encoding == 1
            groups.append(Group(props, value))
            props = []
        else:
            props.append((prop_id, encoding, value))


# -- round trips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("friendly_names", [False, True], ids=["bare", "friendly-names"])
def test_round_trip_keeps_der_and_order(certs: list[x509.Certificate], friendly_names: bool) -> None:
    back = read_sst(write_sst(certs, friendly_names=friendly_names))
    assert [der(c) for c in back] == [der(c) for c in certs]


def test_round_trip_of_a_reordered_list_keeps_the_new_order(certs: list[x509.Certificate]) -> None:
    reordered = list(reversed(certs))
    assert [der(c) for c in read_sst(write_sst(reordered))] == [der(c) for c in reordered]


def test_round_trip_of_public_roots() -> None:
    if not PKCS7_DIR.is_dir():
        pytest.skip(f"corpus not found at {PKCS7_DIR}")
    roots = read_sst((PKCS7_DIR / "amazon-roots.der").read_bytes())
    assert len(roots) == 2
    assert [der(c) for c in read_sst(write_sst(roots, friendly_names=True))] == [der(c) for c in roots]


def test_empty_store_round_trips() -> None:
    data = write_sst([])
    assert data == HEADER + END
    assert read_sst(data) == []


# -- the written bytes, read by the independent parser ---------------------------------------------------


def test_written_store_follows_the_documented_layout(certs: list[x509.Certificate]) -> None:
    groups = parse_documented_layout(write_sst(certs, friendly_names=True))
    assert [g.certificate for g in groups] == [der(c) for c in certs]
    for group, cert in zip(groups, certs, strict=True):
        cn = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
        # CERT_FRIENDLY_NAME_PROP_ID (11): UTF-16LE with a terminating NUL, encoding type 1.
        assert group.properties == [(11, 1, (f"{cn}\x00").encode("utf-16-le"))]


def test_written_store_without_properties_has_bare_groups(certs: list[x509.Certificate]) -> None:
    groups = parse_documented_layout(write_sst(certs))
    assert [g.properties for g in groups] == [[]] * len(certs)
    assert [x509.load_der_x509_certificate(g.certificate).fingerprint(hashes.SHA256()) for g in groups] == [
        c.fingerprint(hashes.SHA256()) for c in certs
    ]


def test_one_certificate_has_the_windows_layout(pki: TestPKI) -> None:
    body = der(pki.root_cert)
    expected = (
        bytes.fromhex("00000000 43455254")  # version 0, "CERT"
        + bytes.fromhex("20000000 01000000")  # CERT_CERT_PROP_ID, X509_ASN_ENCODING
        + struct.pack("<I", len(body))
        + body
        + bytes.fromhex("00000000 00000000 00000000")  # end marker
    )
    assert write_sst([pki.root_cert]) == expected


# -- what Windows writes, read back ----------------------------------------------------------------------


def test_properties_windows_writes_are_skipped(pki: TestPKI) -> None:
    body = der(pki.root_cert)
    data = (
        HEADER
        + element(0x03, pki.root_cert.fingerprint(hashes.SHA1()))  # CERT_SHA1_HASH_PROP_ID
        + element(0x14, b"\x11" * 20)  # CERT_KEY_IDENTIFIER_PROP_ID
        + element(0x0B, "Test Root\x00".encode("utf-16-le"))  # CERT_FRIENDLY_NAME_PROP_ID
        + element(0x19, b"\x22" * 16)  # CERT_SUBJECT_PUBLIC_KEY_MD5_HASH_PROP_ID
        + element(0x8000, b"")  # CERT_FIRST_USER_PROP_ID, empty value
        + element(0x20, body)
        + element(0x5C, b"\x00\x01")
        + element(0x20, der(pki.intermediate_cert))
        + END
    )
    assert [der(c) for c in read_sst(data)] == [body, der(pki.intermediate_cert)]
    assert [e.prop_id for e in iter_elements(data)] == [0x03, 0x14, 0x0B, 0x19, 0x8000, 0x20, 0x5C, 0x20]


def test_crl_elements_are_skipped(pki: TestPKI) -> None:
    # Wine's serializedStoreWithCertAndCRL: a certificate element, then a CRL element (id 0x21).
    data = HEADER + element(0x20, der(pki.root_cert)) + element(0x21, b"\x30\x03\x02\x01\x00") + END
    assert [der(c) for c in read_sst(data)] == [der(pki.root_cert)]


@pytest.mark.parametrize(("name", "count"), [("amazon-roots.der", 2), ("amazon-roots.p7b", 2)])
def test_pkcs7_saved_as_sst_is_accepted(name: str, count: int) -> None:
    path = PKCS7_DIR / name
    if not path.is_file():
        pytest.skip(f"corpus file not found: {path}")
    certs = read_sst(path.read_bytes())
    assert len(certs) == count
    assert all("Amazon Root CA" in c.subject.rfc4514_string() for c in certs)


# -- malformed stores ------------------------------------------------------------------------------------


def _malformed_cases(pki: TestPKI) -> dict[str, tuple[bytes, str]]:
    body = der(pki.root_cert)
    good = HEADER + element(0x20, body) + END
    cert_start = len(HEADER) + 12
    return {
        "empty": (b"", r"not a serialized certificate store"),
        "short header": (HEADER[:6], r"not a serialized certificate store"),
        "bad magic": (b"\x00\x00\x00\x00CERX" + good[8:], r"not a serialized certificate store"),
        "text": (b"hello world, not a store", r"not a serialized certificate store"),
        "bad version": (b"\x01\x00\x00\x00CERT" + good[8:], r"version 0x1"),
        "no end marker": (HEADER + element(0x20, body), r"no end marker"),
        "header only": (HEADER, r"no end marker"),
        "truncated element header": (HEADER + element(0x20, body) + b"\x00\x00\x00", r"truncated"),
        "truncated certificate": (good[: cert_start + 100], r"claims \d+ bytes but only 100 remain"),
        "length beyond the file": (
            HEADER + struct.pack("<III", 0x20, 1, 0x7FFFFFFF) + body + END,
            r"claims 2147483647 bytes",
        ),
        "garbage certificate": (HEADER + element(0x20, b"\x30\x03\x02\x01\x05") + END, r"not a DER X.509"),
        "random bytes as certificate": (HEADER + element(0x20, bytes(range(256))) + END, r"not a DER X.509"),
        "certificate with trailing bytes": (HEADER + element(0x20, body + b"\x00") + END, r"not a DER X.509"),
        "unknown encoding type": (HEADER + element(0x20, body, encoding=2) + END, r"encoding type 0x2"),
        "trailing garbage": (good + b"junk", r"4 unexpected bytes after its end marker"),
        "malformed end marker": (HEADER + element(0x20, body) + struct.pack("<III", 0, 1, 0), r"end marker"),
        "property id too large": (HEADER + element(0x10000, b"x") + element(0x20, body) + END, r"property id 0x10000"),
        "property without certificate": (good[:-12] + element(0x0B, b"a\x00") + END, r"belong to no certificate"),
    }


CASE_NAMES = [
    "empty",
    "short header",
    "bad magic",
    "text",
    "bad version",
    "no end marker",
    "header only",
    "truncated element header",
    "truncated certificate",
    "length beyond the file",
    "garbage certificate",
    "random bytes as certificate",
    "certificate with trailing bytes",
    "unknown encoding type",
    "trailing garbage",
    "malformed end marker",
    "property id too large",
    "property without certificate",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_malformed_store_is_refused_clearly(pki: TestPKI, case: str) -> None:
    data, reason = _malformed_cases(pki)[case]
    with pytest.raises(CertificateError, match=reason) as info:
        read_sst(data)
    assert info.value.code == ErrorCode.MALFORMED_CERTIFICATE
    assert "\n" not in info.value.message


def test_case_list_is_complete(pki: TestPKI) -> None:
    assert sorted(CASE_NAMES) == sorted(_malformed_cases(pki))


def test_every_truncation_of_a_store_is_refused(pki: TestPKI) -> None:
    data = write_sst([pki.root_cert, pki.intermediate_cert], friendly_names=True)
    for cut in range(len(data)):
        with pytest.raises(CertificateError):
            read_sst(data[:cut])


def test_sample_file_round_trip(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    path = tmp_path / "trust.sst"
    path.write_bytes(write_sst(certs, friendly_names=True))
    assert [c.serial_number for c in read_sst(path.read_bytes())] == [c.serial_number for c in certs]

"""Trust stores: every loader (PEM, DER, PKCS#7 DER/BER/PEM, PKCS#12, SST, system) told by content, and the
persistent trust list in the data directory (add, dedupe, move, remove, export)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, NoEncryption, pkcs12

from mailseal import TrustStore
from mailseal.cms.names import serial_text
from mailseal.errors import CertificateError, ErrorCode, UsageError, WrongPasswordError
from mailseal.pki import trustlist
from mailseal.pki.sst import read_sst, write_sst
from mailseal.pki.truststore import detect_format, read_certificates
from tests.conftest import CORPUS_DIR
from tests.support.testpki import PASSWORD, TestPKI

PKCS7_DIR = CORPUS_DIR / "pyca_pkcs7"


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@pytest.fixture
def corpus() -> Path:
    if not PKCS7_DIR.is_dir():
        pytest.skip(f"corpus not found at {PKCS7_DIR}")
    return PKCS7_DIR


# -- PKCS#7 certs-only from the corpus -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "kind"),
    [("amazon-roots.p7b", 2, "der"), ("amazon-roots.der", 2, "der"), ("isrg.pem", 1, "pem")],
    ids=["ber-indefinite", "der", "pem"],
)
def test_pkcs7_certs_only_loads_every_certificate(corpus: Path, name: str, count: int, kind: str) -> None:
    data = (corpus / name).read_bytes()
    assert detect_format(data) == kind
    store = TrustStore.from_files([corpus / name])
    assert len(store.anchors) == count
    assert all(c.subject == c.issuer for c in store.anchors)  # self-signed roots


def test_p7b_sample_really_is_indefinite_length_ber(corpus: Path) -> None:
    data = (corpus / "amazon-roots.p7b").read_bytes()
    assert data[:2] == b"\x30\x80"  # SEQUENCE with indefinite length: BER, not DER
    subjects = [c.subject.rfc4514_string() for c in read_certificates(data)]
    assert subjects == ["CN=Amazon Root CA 3,O=Amazon,C=US", "CN=Amazon Root CA 2,O=Amazon,C=US"]


def test_ber_and_der_bundles_hold_the_same_certificates(corpus: Path) -> None:
    ber = read_certificates((corpus / "amazon-roots.p7b").read_bytes())
    der_ = read_certificates((corpus / "amazon-roots.der").read_bytes())
    assert [der(c) for c in ber] == [der(c) for c in der_]


# -- every format, detected by content -------------------------------------------------------------------


def test_pem_bundle_der_and_sst(pki: TestPKI, tmp_path: Path) -> None:
    (tmp_path / "bundle.pem").write_bytes(b"some text before\n" + pem(pki.root_cert, pki.intermediate_cert))
    (tmp_path / "root.cer").write_bytes(der(pki.root_cert))
    (tmp_path / "list.sst").write_bytes(write_sst([pki.intermediate_cert, pki.root_cert], friendly_names=True))
    assert [len(TrustStore.from_files([tmp_path / n]).anchors) for n in ("bundle.pem", "root.cer", "list.sst")] == [
        2,
        1,
        2,
    ]
    assert [detect_format((tmp_path / n).read_bytes()) for n in ("bundle.pem", "root.cer", "list.sst")] == [
        "pem",
        "der",
        "sst",
    ]


def test_format_is_told_by_content_not_extension(pki: TestPKI, tmp_path: Path) -> None:
    (tmp_path / "really-sst.pem").write_bytes(write_sst([pki.root_cert]))
    (tmp_path / "really-pem.sst").write_bytes(pem(pki.intermediate_cert))
    (tmp_path / "really-p12.crt").write_bytes(
        pkcs12.serialize_key_and_certificates(None, None, None, [pki.ec_intermediate_cert], NoEncryption())
    )
    store = TrustStore.from_files([tmp_path / "really-sst.pem", tmp_path / "really-pem.sst", tmp_path / "really-p12.crt"])
    assert [der(c) for c in store.anchors] == [der(pki.root_cert), der(pki.intermediate_cert), der(pki.ec_intermediate_cert)]


def test_pkcs12_of_a_user_gives_its_certificates(pki: TestPKI) -> None:
    alice = pki.user("alice")
    store = TrustStore.from_files([alice.p12_path], password=PASSWORD.encode())
    assert {fp(c) for c in store.anchors} == {fp(alice.cert), fp(pki.intermediate_cert), fp(pki.root_cert)}


def test_pkcs12_certificates_only_without_password(pki: TestPKI, tmp_path: Path) -> None:
    data = pkcs12.serialize_key_and_certificates(None, None, None, [pki.root_cert, pki.intermediate_cert], NoEncryption())
    assert detect_format(data) == "pkcs12"
    certs = read_certificates(data)
    assert {fp(c) for c in certs} == {fp(pki.root_cert), fp(pki.intermediate_cert)}


def test_pkcs12_certificates_only_with_password(pki: TestPKI) -> None:
    data = pkcs12.serialize_key_and_certificates(None, None, None, [pki.root_cert], BestAvailableEncryption(b"s3cret"))
    assert [fp(c) for c in read_certificates(data, password=b"s3cret")] == [fp(pki.root_cert)]


@pytest.mark.parametrize(("given", "code"), [(None, ErrorCode.PASSWORD_NEEDED), (b"wrong", ErrorCode.WRONG_PASSWORD)],
                         ids=["missing", "wrong"])
def test_pkcs12_password_problems(pki: TestPKI, given: bytes | None, code: ErrorCode) -> None:
    # A missing password is its own code (the CLI asks for it); both are WrongPasswordError for old callers.
    data = pkcs12.serialize_key_and_certificates(None, None, None, [pki.root_cert], BestAvailableEncryption(b"s3cret"))
    with pytest.raises(WrongPasswordError) as info:
        read_certificates(data, password=given)
    assert info.value.code == code


def test_intermediates_and_dedupe(pki: TestPKI, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(pem(pki.root_cert, pki.root_cert))
    (tmp_path / "i.sst").write_bytes(write_sst([pki.intermediate_cert, pki.intermediate_cert]))
    store = TrustStore.from_files([tmp_path / "a.pem", tmp_path / "a.pem"], [tmp_path / "i.sst"])
    assert [fp(c) for c in store.anchors] == [fp(pki.root_cert)]
    assert [fp(c) for c in store.intermediates] == [fp(pki.intermediate_cert)]


def test_merged_keeps_both_without_duplicates(pki: TestPKI) -> None:
    a = TrustStore((pki.root_cert,), (pki.intermediate_cert,))
    b = TrustStore((pki.root_cert, pki.ec_intermediate_cert))
    merged = a.merged(b)
    assert [fp(c) for c in merged.anchors] == [fp(pki.root_cert), fp(pki.ec_intermediate_cert)]
    assert [fp(c) for c in merged.intermediates] == [fp(pki.intermediate_cert)]


def test_system_store_reads_ssl_cert_file(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "system.pem"
    bundle.write_bytes(pem(pki.root_cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert [fp(c) for c in TrustStore.system().anchors] == [fp(pki.root_cert)]


def test_system_store_is_not_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert len(TrustStore.system().anchors) > 10


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\x00\x01garbage", "not a certificate file"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM certificate cannot be read"),
        (b"\x00\x00\x00\x00CERT\x20\x00\x00\x00", "truncated"),
    ],
    ids=["empty", "garbage", "bad-pem", "truncated-sst"],
)
def test_unreadable_file_names_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(CertificateError, match=reason) as info:
        TrustStore.from_files([path])
    assert str(path) in info.value.message
    assert info.value.code == ErrorCode.MALFORMED_CERTIFICATE


# -- the persistent trust list ---------------------------------------------------------------------------


def test_empty_trust_list(tmp_path: Path) -> None:
    store = trustlist.load_trust_list(tmp_path)
    assert (store.anchors, store.intermediates) == ((), ())
    assert trustlist.entries(tmp_path) == []


def test_add_and_load(pki: TestPKI, tmp_path: Path) -> None:
    result = trustlist.add([pki.root_cert], home=tmp_path)
    assert [e.fingerprint for e in result.added] == [fp(pki.root_cert)]
    trustlist.add([pki.intermediate_cert], intermediate=True, home=tmp_path)
    store = trustlist.load_trust_list(tmp_path)
    assert [fp(c) for c in store.anchors] == [fp(pki.root_cert)]
    assert [fp(c) for c in store.intermediates] == [fp(pki.intermediate_cert)]
    assert (tmp_path / "trust" / "anchors.pem").is_file()
    assert (tmp_path / "trust" / "intermediates.pem").is_file()
    assert sorted(p.name for p in (tmp_path / "trust").iterdir()) == ["anchors.pem", "intermediates.pem"]


def test_add_twice_changes_nothing(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert], home=tmp_path)
    before = (tmp_path / "trust" / "anchors.pem").read_bytes()
    again = trustlist.add([pki.root_cert, pki.root_cert], home=tmp_path)
    assert (len(again.added), len(again.unchanged)) == (0, 1)
    assert (tmp_path / "trust" / "anchors.pem").read_bytes() == before


def test_adding_as_the_other_kind_moves(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.intermediate_cert], home=tmp_path)
    moved = trustlist.add([pki.intermediate_cert], intermediate=True, home=tmp_path)
    assert [e.kind for e in moved.moved] == ["intermediate"]
    assert [(e.kind, e.fingerprint) for e in trustlist.entries(tmp_path)] == [("intermediate", fp(pki.intermediate_cert))]


def test_leaf_refused_as_anchor_unless_allowed(pki: TestPKI, tmp_path: Path) -> None:
    alice = pki.user("alice").cert
    with pytest.raises(UsageError, match="not a CA certificate"):
        trustlist.add([pki.root_cert, alice], home=tmp_path)
    assert trustlist.entries(tmp_path) == []  # all or nothing
    trustlist.add([alice], allow_leaf=True, home=tmp_path)
    assert [e.to_dict()["is_ca"] for e in trustlist.entries(tmp_path)] == [False]


def test_entry_json_fields(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert], home=tmp_path)
    (entry,) = trustlist.entries(tmp_path)
    d = entry.to_dict()
    assert d == {
        "subject": "O=mailseal tests,CN=mailseal Test Root",
        "issuer": "O=mailseal tests,CN=mailseal Test Root",
        "serial": serial_text(pki.root_cert.serial_number),
        "fingerprint_sha256": fp(pki.root_cert),
        "not_before": pki.root_cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "not_after": pki.root_cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        "is_ca": True,
        "kind": "anchor",
    }


def test_remove_by_fingerprint_prefix_with_colons(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert, pki.intermediate_cert], home=tmp_path)
    hexfp = fp(pki.intermediate_cert)
    prefix = ":".join(hexfp[i : i + 2] for i in range(0, 12, 2)).upper()
    removed = trustlist.remove(prefix, home=tmp_path)
    assert [e.fingerprint for e in removed] == [hexfp]
    assert [e.fingerprint for e in trustlist.entries(tmp_path)] == [fp(pki.root_cert)]


def test_remove_by_subject_text(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert, pki.intermediate_cert], home=tmp_path)
    trustlist.remove("test intermediate", home=tmp_path)
    assert [e.fingerprint for e in trustlist.entries(tmp_path)] == [fp(pki.root_cert)]


def test_remove_ambiguous_needs_all(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert, pki.intermediate_cert], home=tmp_path)
    with pytest.raises(UsageError, match="2 certificates match"):
        trustlist.remove("mailseal Test", home=tmp_path)
    assert len(trustlist.entries(tmp_path)) == 2
    assert len(trustlist.remove("mailseal Test", all_matches=True, home=tmp_path)) == 2
    assert trustlist.entries(tmp_path) == []


def test_remove_by_file(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert, pki.intermediate_cert, pki.ec_intermediate_cert], home=tmp_path)
    listed = tmp_path / "gone.sst"
    listed.write_bytes(write_sst([pki.root_cert, pki.ec_intermediate_cert]))
    assert len(trustlist.remove(str(listed), home=tmp_path)) == 2
    assert [e.fingerprint for e in trustlist.entries(tmp_path)] == [fp(pki.intermediate_cert)]


def test_remove_nothing_matching_is_an_error(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert], home=tmp_path)
    with pytest.raises(UsageError, match="no certificate"):
        trustlist.remove("no such subject", home=tmp_path)


def test_export_sst_and_pem_round_trip(pki: TestPKI, tmp_path: Path) -> None:
    trustlist.add([pki.root_cert, pki.ec_intermediate_cert], home=tmp_path)
    trustlist.add([pki.intermediate_cert], intermediate=True, home=tmp_path)
    order = [der(pki.root_cert), der(pki.ec_intermediate_cert), der(pki.intermediate_cert)]
    assert [der(c) for c in read_sst(trustlist.export("sst", home=tmp_path))] == order
    assert [der(c) for c in read_certificates(trustlist.export("pem", home=tmp_path))] == order
    assert [der(c) for c in read_sst(trustlist.export("sst", anchors_only=True, home=tmp_path))] == order[:2]


def test_exported_sst_re_imported_into_a_fresh_list_is_identical(pki: TestPKI, tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    trustlist.add([pki.root_cert, pki.ec_intermediate_cert, pki.intermediate_cert], home=first)
    sst = tmp_path / "moved.sst"
    sst.write_bytes(trustlist.export("sst", home=first))
    trustlist.add_files([sst], home=second)
    assert [e.to_dict() for e in trustlist.entries(second)] == [e.to_dict() for e in trustlist.entries(first)]


def test_default_home_is_mailseal_home(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    trustlist.add([pki.root_cert])
    assert (tmp_path / "home" / "trust" / "anchors.pem").is_file()
    assert [fp(c) for c in trustlist.load_trust_list().anchors] == [fp(pki.root_cert)]


def test_damaged_list_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "anchors.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError, match="damaged"):
        trustlist.load_trust_list(tmp_path)


def _self_signed(version: str, extensions: bool) -> x509.Certificate:
    """A self-issued P-256 certificate built with asn1crypto, so that version 1 is possible."""
    from asn1crypto import keys as a_keys
    from asn1crypto import x509 as a_x509

    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    name = a_x509.Name.build({"common_name": f"{version} root"})
    now = datetime.now(UTC).replace(microsecond=0)
    tbs = a_x509.TbsCertificate(
        {
            "version": version,
            "serial_number": 7,
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": name,
            "validity": {
                "not_before": a_x509.Time(name="utc_time", value=now - timedelta(days=1)),
                "not_after": a_x509.Time(name="utc_time", value=now + timedelta(days=30)),
            },
            "subject": name,
            "subject_public_key_info": a_keys.PublicKeyInfo.load(spki),
            **({"extensions": []} if extensions else {}),
        }
    )
    signature = key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    cert = a_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sha256_ecdsa"}, "signature_value": signature}
    )
    return x509.load_der_x509_certificate(cert.dump())


def test_version_1_self_issued_root_counts_as_ca(tmp_path: Path) -> None:
    root = _self_signed("v1", extensions=False)
    assert root.version == x509.Version.v1
    assert trustlist.is_ca(root)
    assert [e.kind for e in trustlist.add([root], home=tmp_path).added] == ["anchor"]


def test_version_3_without_basic_constraints_is_not_a_ca(tmp_path: Path) -> None:
    cert = _self_signed("v3", extensions=True)
    assert cert.version == x509.Version.v3
    assert not trustlist.is_ca(cert)
    with pytest.raises(UsageError, match="not a CA certificate"):
        trustlist.add([cert], home=tmp_path)


# -- path validation with anchors and intermediates from SST files ---------------------------------------


def test_path_validates_to_an_anchor_from_an_sst(pki: TestPKI, tmp_path: Path) -> None:
    from mailseal.pki.validation import ValidationContext, validate_path

    (tmp_path / "roots.sst").write_bytes(write_sst([pki.root_cert], friendly_names=True))
    (tmp_path / "issuers.sst").write_bytes(write_sst([pki.intermediate_cert]))
    store = TrustStore.from_files([tmp_path / "roots.sst"], [tmp_path / "issuers.sst"])
    alice = pki.user("alice").cert
    result = validate_path(alice, [], ValidationContext(trust=store))
    assert result.trusted, result.reasons
    assert [fp(c) for c in result.chain] == [fp(alice), fp(pki.intermediate_cert), fp(pki.root_cert)]


def test_path_from_an_unrelated_sst_is_untrusted(pki: TestPKI, tmp_path: Path, corpus: Path) -> None:
    from mailseal.pki.validation import ValidationContext, validate_path

    (tmp_path / "amazon.sst").write_bytes(write_sst(read_certificates((corpus / "amazon-roots.der").read_bytes())))
    store = TrustStore.from_files([tmp_path / "amazon.sst"])
    result = validate_path(pki.user("alice").cert, [pki.intermediate_cert], ValidationContext(trust=store))
    assert not result.trusted
    assert result.status == "untrusted"

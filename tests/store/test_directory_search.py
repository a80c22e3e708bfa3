"""Directory search in the database: address part, fingerprint prefix, order and pages (SQLite and PostgreSQL)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailseal.store import Directory, Store, fingerprint
from tests.store.certgen import make_cert


def _two_addresses(first: str, second: str) -> x509.Certificate:
    """A certificate filed under two addresses (the directory keeps one entry per address)."""
    cert = make_cert(first)
    san = x509.SubjectAlternativeName([x509.RFC822Name(first), x509.RFC822Name(second)])
    builder = (x509.CertificateBuilder().subject_name(cert.subject)
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "store test CA")]))
               .public_key(cert.public_key()).serial_number(cert.serial_number)
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc)
               .add_extension(san, critical=False))
    return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


def test_an_address_part_matches_case_ignored_and_keeps_every_address_of_the_certificate(store: Store) -> None:
    both = _two_addresses("alice@example.org", "a.smith@example.net")
    directory = Directory(store)
    directory.add_many([both, make_cert("bob@example.org"), make_cert("carol@other.example")])
    groups, total = directory.search("SMITH@")
    assert total == 1 and [g[0].fingerprint for g in groups] == [fingerprint(both)]
    assert sorted(e.address for e in groups[0]) == ["a.smith@example.net", "alice@example.org"]
    groups, total = directory.search("example.org")
    assert total == 2 and [g[0].address for g in groups] == ["a.smith@example.net", "bob@example.org"]


def test_like_wildcards_in_the_search_are_taken_literally(store: Store) -> None:
    directory = Directory(store)
    directory.add_many([make_cert("under_score@example.org"), make_cert("underxscore@example.org"),
                        make_cert("pct@example.org")])
    assert [g[0].address for g in directory.search("under_")[0]] == ["under_score@example.org"]
    assert directory.search("%")[1] == 0


def test_a_fingerprint_prefix_with_colons(store: Store) -> None:
    certs = [make_cert(f"user{i}@example.org") for i in range(6)]
    Directory(store).add_many(certs)
    wanted = fingerprint(certs[3])
    prefix = ":".join(wanted[i:i + 2] for i in range(0, 10, 2)).upper()
    groups, total = Directory(store).search(fingerprint_prefix=prefix)
    assert total == 1 and groups[0][0].fingerprint == wanted
    assert Directory(store).search("user3@", wanted[:8])[1] == 1
    assert Directory(store).search("user4@", wanted[:8])[1] == 0


def test_pages_are_ordered_by_first_address_and_count_the_whole_match(store: Store) -> None:
    addresses = [f"u{i:02d}@example.org" for i in range(25)]
    Directory(store).add_many([make_cert(a) for a in reversed(addresses)])
    seen: list[str] = []
    for offset in range(0, 30, 10):
        groups, total = Directory(store).search("@example.org", limit=10, offset=offset)
        assert total == 25
        seen.extend(g[0].address for g in groups)
    assert seen == addresses
    assert Directory(store).search(limit=0)[0] == [] and Directory(store).search(limit=0)[1] == 25

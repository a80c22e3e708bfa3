"""Store benchmark: import 10,000 generated certificates, then look up 10,000 addresses (issue 5 "must show" 6).

    .venv/bin/python bench/store_bench.py [--count N] [--pg-url postgresql+psycopg://...]

Certificates are generated fast: one P-256 CA key and a handful of leaf keys, many certificates with different
addresses. Prints, per backend, the import time and the mean time per lookup (``Directory.find``).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailseal.store import Directory, Store


def generate(count: int) -> list[x509.Certificate]:
    ca = ec.generate_private_key(ec.SECP256R1())
    leaves = [ec.generate_private_key(ec.SECP256R1()) for _ in range(8)]
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    now = datetime.now(UTC)
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
    out = []
    for i in range(count):
        email = f"user{i}@bench{i % 97}.example"
        out.append(
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email)]))
            .issuer_name(issuer)
            .public_key(leaves[i % len(leaves)].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(eku, critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .sign(ca, hashes.SHA256())
        )
    return out


def run(name: str, url: str, certs: list[x509.Certificate], lookups: int) -> None:
    store = Store.open(url)
    directory = Directory(store)
    t0 = time.perf_counter()
    outcomes = directory.add_many(certs)
    t_import = time.perf_counter() - t0
    assert sum(o.status == "added" for o in outcomes) == len(certs)
    rng = random.Random(5)
    addresses = []
    for _ in range(lookups):
        i = rng.randrange(len(certs))
        addresses.append(f"user{i}@BENCH{i % 97}.example")
    t0 = time.perf_counter()
    hits = sum(1 for a in addresses if directory.find(a))
    t_lookup = time.perf_counter() - t0
    assert hits == lookups
    print(f"{name:10s} import {len(certs)} certificates: {t_import:6.2f} s ({t_import / len(certs) * 1e3:.2f} ms each)"
          f" | {lookups} lookups: {t_lookup:6.2f} s ({t_lookup / lookups * 1e6:.0f} us each)")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--pg-url", help="also run against this (empty) PostgreSQL database")
    args = parser.parse_args()
    t0 = time.perf_counter()
    certs = generate(args.count)
    print(f"generated {args.count} certificates in {time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", certs, args.lookups)
    if args.pg_url:
        run("postgresql", args.pg_url, certs, args.lookups)


if __name__ == "__main__":
    main()

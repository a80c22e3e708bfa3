"""Post-quantum next to classical: 1 KiB messages per second in-process (sign, verify, encrypt, decrypt through the
mailseal API) and the bytes each recipient and each signature adds, for RSA-2048, P-256, X25519/Ed25519, ML-KEM and
ML-DSA. ``make bench`` runs it after bench/run.py; the table goes to stdout and bench/pq-results.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
from run import machine, rates, table  # noqa: E402

import mailseal  # noqa: E402
from mailseal.cms import envelope_data, sign_data  # noqa: E402
from tests.support.testpki import TestPKI  # noqa: E402

MESSAGE = (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: bench\r\n\r\n"
           + b"".join(b"%04d lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n" % i for i in range(16)))[:1024]


@dataclass(frozen=True)
class Pair:
    """One row: a signing key type and an encryption key type of the same family."""

    label: str
    sign_key: str
    encrypt_key: str


PAIRS = (
    Pair("RSA-2048", "rsa2048", "rsa2048"),
    Pair("P-256 (ECDSA / ECDH)", "ec-p256", "ec-p256"),
    Pair("Ed25519 / X25519", "ed25519", "x25519"),
    Pair("ML-DSA-44 / ML-KEM-768", "ml-dsa-44", "ml-kem-768"),
    Pair("ML-DSA-65 / ML-KEM-768", "ml-dsa-65", "ml-kem-768"),
    Pair("ML-DSA-87 / ML-KEM-1024", "ml-dsa-87", "ml-kem-1024"),
)


def sizes(pki: TestPKI, pair: Pair) -> tuple[int, int, int]:
    """(bytes one more recipient adds, bytes a detached signature without certificates takes, the signer's
    certificate's DER size)."""
    one = pki.user("bob", pair.encrypt_key)
    two = pki.user("carol", pair.encrypt_key)
    body = b"x" * 1024
    per_recipient = len(envelope_data(body, [one.cert, two.cert])) - len(envelope_data(body, [one.cert]))
    signer = pki.user("alice", pair.sign_key)
    ident = mailseal.Identity(signer.key, signer.cert, tuple(signer.chain))  # type: ignore[arg-type]
    signature = len(sign_data(body, ident, include_certs=False, capabilities=False))
    return per_recipient, signature, len(signer.cert.public_bytes(Encoding.DER))


def speeds(pki: TestPKI, pair: Pair, seconds: float) -> dict[str, float]:
    alice, bob = pki.user("alice", pair.sign_key), pki.user("bob", pair.encrypt_key)
    signer = mailseal.Identity(alice.key, alice.cert, tuple(alice.chain))  # type: ignore[arg-type]
    reader = mailseal.Identity(bob.key, bob.cert, tuple(bob.chain))  # type: ignore[arg-type]
    trust = mailseal.TrustStore((pki.root_cert,))
    signed, sealed = mailseal.sign(MESSAGE, signer), mailseal.encrypt(MESSAGE, [bob.cert])
    assert mailseal.verify(signed, trust=trust).status == "valid"
    assert mailseal.decrypt(sealed, reader) is not None
    ops = {
        "sign": lambda: mailseal.sign(MESSAGE, signer),
        "verify": lambda: mailseal.verify(signed, trust=trust),
        "encrypt": lambda: mailseal.encrypt(MESSAGE, [bob.cert]),
        "decrypt": lambda: mailseal.decrypt(sealed, reader),
    }
    return {op: rates(fn, lambda: None, seconds)[0] for op, fn in ops.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: short loops")
    parser.add_argument("--results", type=Path, default=HERE / "pq-results.md", help="where to write the Markdown")
    args = parser.parse_args(argv)
    seconds = 0.2 if args.quick else 2.0
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="mailseal-pq-bench-") as tmp:
        pki = TestPKI(Path(tmp))
        for pair in PAIRS:
            rate = speeds(pki, pair, seconds)
            per_recipient, signature, cert = sizes(pki, pair)
            rows.append([pair.label, *(f"{rate[op]:.0f}" for op in ("sign", "verify", "encrypt", "decrypt")),
                         str(per_recipient), str(signature), str(cert)])
    header = ["keys (sign / encrypt)", "sign msg/s", "verify msg/s", "encrypt msg/s", "decrypt msg/s",
              "bytes per recipient", "detached signature bytes", "signer certificate bytes"]
    text = (
        "# Post-quantum benchmark (bench/pq_bench.py)\n\n"
        f"{machine()}\n\n"
        "1 KiB messages per second in-process through `mailseal.sign/verify/encrypt/decrypt` (best round; verify "
        "includes path validation to the test root, whose certificates are RSA). Bytes per recipient: how much "
        "one more RecipientInfo adds to an EnvelopedData. Detached signature: a SignedData over 1 KiB without "
        "certificates and without SMIMECapabilities; the signer certificate travels in addition when included. "
        "The sizes are exact; on a shared machine the rates move between runs (compare rows of one run).\n\n"
        + table(header, rows) + "\n"
    )
    print(text)
    args.results.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

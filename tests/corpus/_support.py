"""Small helpers shared by the corpus tests: paths, certificate and trust loading, fixed validation times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from mailseal import Identity, TrustStore
from mailseal.cms import load_certificates

#: ../shared/corpus relative to the repository root (tests/corpus/_support.py -> parents[2] is the root).
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

#: RFC 4134 and draft-ireland-examples-cms: every object carries exactly these 28 bytes.
SAMPLE = b"This is some sample content."


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def certs(*paths: Path) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for path in paths:
        out.extend(load_certificates(path.read_bytes()))
    return out


def trust(*paths: Path) -> TrustStore:
    return TrustStore(tuple(certs(*paths)))


def identity(key: Path, cert: Path | None = None) -> Identity:
    return Identity.from_pem(key.read_bytes(), cert.read_bytes() if cert is not None else None)


def lf(data: bytes) -> bytes:
    """Line ends normalised to LF: the published *.inner files use LF, the messages CRLF."""
    return data.replace(b"\r\n", b"\n")

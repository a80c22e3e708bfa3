"""Write the committed seed corpus, ``tests/fuzz/corpus/TARGET/``: ``python -m tests.fuzz.make_corpus [SHARED]``.

Seeds are small files of the shared interop corpus (``../shared/corpus``, or SHARED), chosen by kind for each
target and capped in number and size so that the committed corpus stays a few MB, plus messages made here with a
throw-away PKI (their keys are gone, so they seed the parsers up to the recipient match; ``run.py --seeds`` makes
decryptable ones at run time). Each seed is named by the SHA-1 of its bytes, as libFuzzer names its own, so that
running this again adds only what is new.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.fuzz import targets

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
MAX_SEED = 16 << 10  # bytes per seed
PER_TARGET = 48  # seeds taken from the shared corpus per target

MESSAGE_SUFFIXES = (".eml", ".txt", ".inner")
CMS_SUFFIXES = (".der", ".p7m", ".cms", ".bin", ".p7b")
CERT_SUFFIXES = (".crt", ".cer", ".pem", ".der", ".p7b")


def _files(root: Path, suffixes: tuple[str, ...], *, words: tuple[str, ...] = ()) -> list[Path]:
    found = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in suffixes
             and 0 < p.stat().st_size <= MAX_SEED and (not words or any(w in p.name.lower() for w in words))]
    # An even spread over the folders rather than the first N of one of them.
    step = max(1, len(found) // PER_TARGET)
    return found[::step][:PER_TARGET]


def _write(target: str, seeds: Iterable[bytes]) -> int:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in seeds:
        if not seed or len(seed) > MAX_SEED:
            continue
        (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        count += 1
    return count


def _read(paths: Iterable[Path]) -> Iterator[bytes]:
    for path in paths:
        yield path.read_bytes()


def _smtp(messages: Iterable[bytes]) -> Iterator[bytes]:
    """DATA as a client sends it: dot-stuffed, CRLF, ended by a line "."; the first byte is the block size."""
    for index, message in enumerate(messages):
        body = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n"))
        yield bytes([index % 7]) + stuffed + b"\r\n.\r\nQUIT\r\n"
    yield b"\x00.\r\n"
    yield b"\x01Subject: x\r\n\r\n..\r\n.\r\n"
    yield b"\x02a\nb\r\n.\r\n"


def main(argv: list[str]) -> None:
    shared = Path(argv[1]) if len(argv) > 1 else HERE.parents[2].parent / "shared" / "corpus"
    if not shared.is_dir():
        shared = Path("/work/shared/corpus")
    messages = [*_read(_files(shared, MESSAGE_SUFFIXES)), *(s for n in ("open",) for s in targets.seeds(n))]
    cms = list(_read(_files(shared, CMS_SUFFIXES)))
    counts = {
        "open": _write("open", [*messages, *cms]),
        "verify": _write("verify", [*messages, *cms]),
        "decrypt": _write("decrypt", [*messages, *cms]),
        "mime": _write("mime", messages),
        "ber": _write("ber", cms),
        "certificate": _write("certificate", [*_read(_files(shared, CERT_SUFFIXES)), *targets.seeds("certificate")]),
        "revocation": _write("revocation", [*_read(_files(shared, (".crl",))), *targets.seeds("revocation")]),
        "smtp_data": _write("smtp_data", _smtp(messages[:40])),
        "settings": _write("settings", targets.toml_seeds()),
    }
    size = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(", ".join(f"{k} {v}" for k, v in counts.items()), f"- {size / 1e6:.1f} MB in {CORPUS}")


if __name__ == "__main__":
    main(sys.argv)

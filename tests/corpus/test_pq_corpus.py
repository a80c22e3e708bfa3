"""Every (artifact, key) row of ../shared/corpus/pq/expected.tsv through the library and through the command line.

Each row's ``expect`` column is turned into one outcome word; what mailseal gives is turned into the same words.
Where mailseal cannot give the expected outcome, ``DEVIATIONS`` says what it gives instead and why; docs/pq.md has
the same table in prose. A deviation that stops happening fails too, so the table cannot go stale.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import mailseal
from mailseal.cms import decrypt_data, load_certificates, load_private_key
from mailseal.errors import MailsealError
from tests.conftest import cli_env
from tests.corpus._support import CORPUS, utc

PQ = CORPUS / "pq"
#: Inside every certificate's validity: the BC trust anchor is valid 2026-07-20..2027-07-20.
AT = utc(2026, 12, 1)
AT_TEXT = "2026-12-01T00:00:00Z"


@dataclass(frozen=True)
class Row:
    file: str
    kind: str
    key: str
    expect: str

    @property
    def id(self) -> str:
        key = self.key.split(" ")[0]
        return f"{self.file}+{Path(key).name}" if key.endswith((".der", ".priv")) else self.file


def _rows() -> list[Row]:
    path = PQ / "expected.tsv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return [Row(r["file"], r["kind"], r["key_or_cert"], r["expect"]) for r in csv.DictReader(f, delimiter="\t")]


ROWS = _rows()

# -- What each row should give, in one vocabulary ----------------------------------------------------------------


def expected(row: Row) -> str:
    e = row.expect
    if e.startswith("key: load ok"):
        return "key-loaded"
    if e.startswith("key: reject"):
        return "error:malformed-key"
    if e == "valid":
        return "status:valid"
    if e.startswith("out-of-profile"):
        return "status:unsupported-algorithm"
    if e.startswith("invalid"):
        return "status:invalid-signature"
    if e.startswith("decrypt:"):
        return "decrypted"
    if e.startswith("fail-decrypt"):
        return "error:decryption-failed"
    if e.startswith("reject: kekLength"):
        return "error:malformed-cms"
    if e.startswith("fail: wrong key"):
        return "error:no-matching-recipient"
    raise AssertionError(f"unknown expectation {e!r}")


#: Rows where mailseal gives another outcome, and why (docs/pq.md, "Reading what others write").
UNSUPPORTED_KEM = "ML-KEM-512: pyca/cryptography has no ML-KEM-512 (keys, certificates, decapsulation)"
EXPANDED_ONLY = "expanded-only private key: pyca/cryptography builds ML-KEM/ML-DSA keys from the seed only"
NO_SLH_DSA = "SLH-DSA: pyca/cryptography has no SLH-DSA, so the signature cannot be checked"


def deviation(row: Row) -> tuple[str, str] | None:
    """(what mailseal gives, why) for a row that does not give its expected outcome; None otherwise."""
    if "ML-KEM-512" in row.kind:
        return "error:unsupported-algorithm", UNSUPPORTED_KEM
    if row.kind.startswith("private-key") and "expanded" in row.expect and "-expanded" in row.file:
        return "error:malformed-key", EXPANDED_ONLY
    if row.kind.startswith("SignedData SLH-DSA") and row.expect == "valid":
        return "status:unsupported-algorithm", NO_SLH_DSA
    return None


def mailseal_should_give(row: Row) -> str:
    found = deviation(row)
    return found[0] if found else expected(row)


# -- Files around a row: its key's certificate, trust anchors and extra certificates ----------------------------

RFC_CERTS = [PQ / "rfc9881-ml-dsa-certs" / f"ML-DSA-{n}.crt" for n in (44, 65, 87)] + [
    PQ / "rfc9935-ml-kem-certs" / f"ML-KEM-{n}.crt" for n in (512, 768, 1024)
]


def certificate_for_key(key: str) -> Path:
    """The certificate that belongs to a key file of the corpus."""
    name = Path(key).name
    if key.startswith("bc/"):
        return PQ / key.replace("_priv.der", "_ee.der")
    if key.startswith("rfc9936-cms-kyber/"):
        return PQ / "rfc9936-cms-kyber" / "ML-KEM-512.pem"
    match = re.search(r"ML-(DSA|KEM)-(\d+)", name)
    assert match, key
    folder = "rfc9881-ml-dsa-certs" if match.group(1) == "DSA" else "rfc9935-ml-kem-certs"
    return PQ / folder / f"ML-{match.group(1)}-{match.group(2)}.crt"


def trust_anchor(row: Row) -> Path:
    if row.file.startswith("ossl35/"):
        return PQ / "ossl35" / "ta.der"
    if row.file.startswith("rfc9882-cms-ml-dsa/"):
        level = re.search(r"mldsa(\d+)", row.file)
        assert level
        return PQ / "rfc9881-ml-dsa-certs" / f"ML-DSA-{level.group(1)}.crt"
    return PQ / "bc" / "ta.der"


def plaintext(row: Row) -> bytes:
    return (PQ / row.expect.removeprefix("decrypt:")).read_bytes()


def kind_of(row: Row) -> str:
    if row.kind.startswith("private-key"):
        return "key"
    if row.kind.startswith("SignedData"):
        return "signed"
    return "enveloped"


# -- The library -------------------------------------------------------------------------------------------------


def library_outcome(row: Row) -> str:
    try:
        if kind_of(row) == "key":
            load_private_key((PQ / row.file).read_bytes())
            return "key-loaded"
        if kind_of(row) == "signed":
            extra = [c for p in RFC_CERTS for c in load_certificates(p.read_bytes())] \
                if row.file.startswith("rfc9882") else []
            report = mailseal.verify((PQ / row.file).read_bytes(),
                                     trust=mailseal.TrustStore.from_files([trust_anchor(row)]), at=AT,
                                     extra_certificates=extra)
            return f"status:{report.status}"
        key = load_private_key((PQ / row.key).read_bytes())
        cert = load_certificates(certificate_for_key(row.key).read_bytes())[0]
        opened = decrypt_data((PQ / row.file).read_bytes(), key, cert)
        return "decrypted" if opened.content == plaintext(row) else "decrypted-wrong-content"
    except MailsealError as exc:
        return f"error:{exc.code}"


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_library(corpus: Path, row: Row) -> None:
    assert library_outcome(row) == mailseal_should_give(row)


def test_the_table_is_walked_whole(corpus: Path) -> None:
    assert len(ROWS) == 103
    assert {kind_of(r) for r in ROWS} == {"key", "signed", "enveloped"}


def test_wrong_key_without_its_certificate_is_the_opaque_decryption_error(corpus: Path) -> None:
    """The wrong-key row forced through decapsulation (no certificate to match): AES unwrap fails, one error."""
    (row,) = [r for r in ROWS if r.expect.startswith("fail: wrong key")]
    key = load_private_key((PQ / row.key).read_bytes())
    with pytest.raises(MailsealError) as caught:
        decrypt_data((PQ / row.file).read_bytes(), key)
    assert caught.value.code == "decryption-failed"


def test_the_three_decryption_failures_look_the_same(corpus: Path) -> None:
    """CONVENTIONS.md: kemct flipped, GCM tag flipped, wrong key: one error code and one sentence."""
    key_path = "bc/ml-kem-768-2.16.840.1.101.3.4.4.2_priv.der"
    key = load_private_key((PQ / key_path).read_bytes())
    cert = load_certificates(certificate_for_key(key_path).read_bytes())[0]
    seen = set()
    for name in ("derived-negative/bc-ml-kem-768_kemctflip.der", "derived-negative/bc-ml-kem-768-auth_tagflip.der"):
        with pytest.raises(MailsealError) as caught:
            decrypt_data((PQ / name).read_bytes(), key, cert)
        seen.add((caught.value.code, str(caught.value)))
    other = load_private_key((PQ / "rfc9935-ml-kem-certs/ML-KEM-768-seed.priv").read_bytes())
    with pytest.raises(MailsealError) as caught:
        decrypt_data((PQ / "bc/ml-kem-768-2.16.840.1.101.3.4.4.2_kemri_id-alg-hkdf-with-sha256.der").read_bytes(), other)
    seen.add((caught.value.code, str(caught.value)))
    assert len(seen) == 1 and next(iter(seen))[0] == "decryption-failed"


# -- The command line, through one resident agent (a fresh process per row would take minutes) -------------------

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: pq\r\n\r\nhello\r\n"


class Cli:
    def __init__(self, tmp: Path) -> None:
        runtime = tmp / "run"
        runtime.mkdir(mode=0o700)
        self.env = cli_env({"XDG_RUNTIME_DIR": str(runtime), "MAILSEAL_AGENT": "on", "MAILSEAL_HOME": str(tmp / "h")})
        self.message = tmp / "msg.eml"
        self.message.write_bytes(MESSAGE)

    def run(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "mailseal.cli.launcher", *map(str, args)], env=self.env,
                              capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    c = Cli(tmp_path_factory.mktemp("pq-cli"))
    yield c
    c.run("agent", "stop")


def _error(proc: subprocess.CompletedProcess[bytes]) -> str:
    match = re.search(rb"error\[([a-z-]+)\]", proc.stderr)
    assert match, proc.stderr
    return f"error:{match.group(1).decode()}"


def cli_outcome(cli: Cli, row: Row) -> str:
    if kind_of(row) == "key":
        cert = certificate_for_key(row.file)
        if "DSA" in row.kind:
            proc = cli.run("sign", "--allow-from-mismatch", "--key", PQ / row.file, "--cert", cert, "-i", cli.message)
            return "key-loaded" if proc.returncode == 0 else _error(proc)
        # An ML-KEM key is handed a message that is not for it: "no matching recipient" means the key loaded.
        proc = cli.run("decrypt", "--key", PQ / row.file, "--cert", cert, "-i",
                       PQ / "bc/ml-kem-768-2.16.840.1.101.3.4.4.2_kemri_id-alg-hkdf-with-sha256.der")
        if proc.returncode == 0 or _error(proc) == "error:no-matching-recipient":
            return "key-loaded"
        return _error(proc)
    if kind_of(row) == "signed":
        extra = [a for p in RFC_CERTS for a in ("--certs", p)] if row.file.startswith("rfc9882") else []
        proc = cli.run("verify", "--json", "--trust", trust_anchor(row), "--at", AT_TEXT, *extra, "-i", PQ / row.file)
        if not proc.stdout:
            return _error(proc)
        return f"status:{json.loads(proc.stdout)['status']}"
    proc = cli.run("decrypt", "--key", PQ / row.key, "--cert", certificate_for_key(row.key), "-i", PQ / row.file)
    if proc.returncode != 0:
        return _error(proc)
    return "decrypted" if proc.stdout == plaintext(row) else "decrypted-wrong-content"


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_cli(corpus: Path, cli: Cli, row: Row) -> None:
    assert cli_outcome(cli, row) == mailseal_should_give(row)


@pytest.mark.parametrize("cert", ["rfc9935-ml-kem-certs/ML-KEM-512.crt", "bc/ml-kem-512-2.16.840.1.101.3.4.4.1_ee.der",
                                  "rfc9936-cms-kyber/ML-KEM-512.pem"])
def test_certificates_with_keys_pyca_lacks_are_explained(corpus: Path, cli: Cli, cert: str) -> None:
    """An ML-KEM-512 certificate: `certs check` names the algorithm, `encrypt` refuses the recipient; no crash."""
    check = cli.run("certs", "check", PQ / cert)
    assert check.returncode == 1 and b"key algorithm (ML-KEM-512) is not supported" in check.stdout, check.stderr
    refused = cli.run("encrypt", "--to", PQ / cert, "-i", cli.message)
    assert _error(refused) == "error:recipient-unsuitable"


def test_the_deviations_are_the_ones_docs_pq_md_counts(corpus: Path) -> None:
    """docs/pq.md: 56 rows as expected, 47 named deviations (ML-KEM-512 18, expanded-only keys 5, SLH-DSA 24)."""
    reasons = [found[1] for r in ROWS if (found := deviation(r))]
    assert (len(ROWS) - len(reasons), len(reasons)) == (56, 47)
    assert (reasons.count(UNSUPPORTED_KEM), reasons.count(EXPANDED_ONLY), reasons.count(NO_SLH_DSA)) == (18, 5, 24)

"""Store-backed and per-message commands import only what they need (issue 12 point 5).

Each command runs once as a subprocess under ``python -X importtime``, whose report names every module the
process imported; no timing is asserted, only which heavy machinery a command must not load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.testpki import TestPKI

REPO = Path(__file__).resolve().parents[2]


def imported(home: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSEAL_")}
    env.update(PYTHONPATH=str(REPO / "src"), MAILSEAL_HOME=str(home), MAILSEAL_STORE_PASSPHRASE="s3cret")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mailseal.cli.main", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Path:
    home = tmp_path_factory.mktemp("startup") / "home"
    alice = pki.user("alice")
    imported(home, "keys", "import", str(alice.p12_path), "--pass", "pass:test")
    imported(home, "certs", "import", str(pki.user("bob").cert_path))
    return home


@pytest.mark.parametrize("args", [("keys", "list"), ("certs", "find", "bob@example.org")])
def test_store_reads_need_neither_alembic_nor_the_orm(home: Path, args: tuple[str, ...]) -> None:
    modules = imported(home, *args)
    assert "sqlalchemy" in modules  # the store was read
    assert not {m for m in modules if m == "alembic" or m.startswith(("alembic.", "sqlalchemy.orm"))}
    assert "sqlalchemy.dialects.postgresql" not in modules


def test_certs_inspect_does_not_open_the_store(home: Path, pki: TestPKI) -> None:
    assert "sqlalchemy" not in imported(home, "certs", "inspect", str(pki.user("bob").cert_path))


def test_decrypt_does_not_load_path_validation(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    bob = pki.user("bob")
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nhello\r\n")
    sealed = tmp_path / "m.p7m"
    imported(home, "encrypt", "--to", str(bob.cert_path), "-i", str(message), "-o", str(sealed))
    modules = imported(home, "decrypt", "--key", str(bob.key_path), "--cert", str(bob.cert_path),
                       "-i", str(sealed), "-o", str(tmp_path / "out.eml"))
    assert "mailseal.pki.validation" not in modules
    assert "pyhanko_certvalidator" not in modules and "asyncio" not in modules


def test_verify_with_trust_files_does_not_open_the_store(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    """--trust FILE names every anchor: the store's trust list (and its database code) is not needed; a home that
    has a store must not make a scripted verify pay for SQLAlchemy."""
    alice = pki.user("alice")
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nhello\r\n")
    signed = tmp_path / "s.eml"
    imported(home, "sign", "--key", str(alice.p12_path), "--pass", "pass:test", "-i", str(message), "-o", str(signed))
    modules = imported(home, "verify", "--trust", str(pki.root_path), "-i", str(signed))
    assert "sqlalchemy" not in modules and "mailseal.store.trust" not in modules

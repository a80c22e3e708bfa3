"""Two OS processes writing to the same store at once leave it consistent (unique constraints + transactions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from mailseal.store import Store, events
from mailseal.store.models import RecipientCertificate
from tests.store.certgen import make_cert

REPO = Path(__file__).resolve().parents[2]


def _write(directory: Path, emails: list[str]) -> None:
    directory.mkdir(parents=True)
    for i, email in enumerate(emails):
        (directory / f"{i:04d}.pem").write_bytes(make_cert(email).public_bytes(serialization.Encoding.PEM))


def test_two_processes_importing_at_once(store_url: str, tmp_path: Path) -> None:
    shared = [f"shared{i}@example.org" for i in range(40)]
    # Same address, different certificates in the two processes: both must be kept.
    _write(tmp_path / "a", shared + [f"a{i}@example.org" for i in range(30)])
    _write(tmp_path / "b", list(reversed(shared)) + [f"b{i}@example.org" for i in range(30)])
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.store.concurrent_worker", store_url, str(tmp_path / d),
                               str(go)], env=env, stderr=subprocess.PIPE) for d in "ab"]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()[-2000:]
    store = Store.open(store_url)
    with store.reading() as session:
        rows = session.execute(select(RecipientCertificate.address, RecipientCertificate.fingerprint)).all()
        addresses = session.scalar(select(func.count(func.distinct(RecipientCertificate.address))))
    # 40 shared addresses x 2 different certificates + 30 + 30 own ones; no duplicate (address, fingerprint).
    assert len(rows) == 40 * 2 + 60
    assert len(set(rows)) == len(rows)
    assert addresses == 100
    assert len(events(store, "certs.import")) == len(rows)
    store.close()


def test_two_processes_importing_the_same_certificates(store_url: str, tmp_path: Path) -> None:
    cert_dir = tmp_path / "same"
    _write(cert_dir, [f"same{i}@example.org" for i in range(40)])
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.store.concurrent_worker", store_url, str(cert_dir),
                               str(go)], env=env, stderr=subprocess.PIPE) for _ in range(2)]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()[-2000:]
    store = Store.open(store_url)
    with store.reading() as session:
        count = session.scalar(select(func.count()).select_from(RecipientCertificate))
    assert count == 40
    # Exactly one process filed each certificate: one audit event each, never two.
    assert len(events(store, "certs.import")) == 40
    store.close()

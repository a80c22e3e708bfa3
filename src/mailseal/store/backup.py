"""`mailseal backup`: one archive of what a home holds (store database, CA, trust list, settings, held mail).

The SQLite databases (the store and the CA's register) are copied with SQLite's online backup API, so the copy is a
consistent snapshot even while the gateway writes; a PostgreSQL store is dumped with ``pg_dump`` (custom format),
which reads one consistent snapshot too. The private keys in the store stay sealed under the store passphrase,
which is *not* in the archive unless ``include_secrets`` (and then only sealed: see ``mailseal.store.archive``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from ..errors import ErrorCode, MailsealError, UsageError
from .archive import (
    FORMAT,
    MANIFEST,
    MIN_PASSPHRASE,
    SECRETS_SEALED_TO_CERTIFICATE,
    SECRETS_SEALED_TO_PASSPHRASE,
    SecretItem,
    seal_to_certificate,
    seal_to_passphrase,
    secrets_payload,
    sha256_file,
)
from .database import BUSY_TIMEOUT_MS

#: The CA's files (``mailseal.pki.authority``), in the order they are archived; the register is copied apart.
CA_FILES = ("ca.pem", "ca.json", "ca-key.json", "crl.der")
CA_REGISTER = "ca.db"
TRUST_FILES = ("anchors.pem", "intermediates.pem")
STORE_SQLITE_MEMBER = "store/mailseal.db"
STORE_PG_MEMBER = "store/mailseal.pgdump"
SETTINGS_MEMBER = "settings/mailseal.toml"
KEYS_WARNING = ("the private keys in the store are sealed under the store passphrase, which this archive does "
                "not hold: keep the passphrase somewhere else (a password manager, a sealed envelope in a safe); "
                "without it no key and no message encrypted to those keys can ever be opened again")


@dataclass(frozen=True)
class BackupSources:
    """What to back up, resolved by the caller (the command line reads the settings for the held directory)."""

    home: Path
    database_url: str | None  # None: the database is backed up by other means (--no-database)
    ca_dir: Path
    trust_dir: Path
    settings_file: Path
    held_dir: Path
    secrets: tuple[SecretItem, ...] = ()
    not_included: tuple[str, ...] = ()  # what the caller knows is left out (files the settings name elsewhere)


@dataclass(frozen=True)
class Sealing:
    """How secrets are sealed: to a passphrase, to an administrator's certificate, or both."""

    passphrase: bytes | None = None
    certificate: x509.Certificate | None = None

    @property
    def methods(self) -> list[str]:
        return [m for m, v in (("passphrase", self.passphrase), ("certificate", self.certificate)) if v is not None]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: dict[str, Any] = field(default_factory=dict)


class BackupError(MailsealError):
    """A backup that could not be made (a database tool failed, a source cannot be read)."""

    code = ErrorCode.IO


def sqlite_snapshot(source: Path, target: Path, *, standalone: bool = True) -> None:
    """Copy the SQLite database ``source`` to ``target`` with the online backup API (one step: a consistent
    snapshot of the last committed state, taken while writers go on in WAL mode), then check the copy.
    ``standalone``: leave the copy in rollback-journal mode, one self-contained file (for the archive); restore
    keeps the target's mode (the store switches it to WAL when it opens it)."""
    with closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)) as src, \
            closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        if standalone:
            dst.execute("PRAGMA journal_mode=DELETE")
        check = dst.execute("PRAGMA integrity_check").fetchone()
    if not check or check[0] != "ok":
        raise BackupError(f"the copy of {source} fails SQLite's integrity check: {check[0] if check else '?'}")
    target.chmod(0o600)


def _sqlite_facts(path: Path) -> dict[str, Any]:
    """The schema revision and the number of identities of a store snapshot."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revision = (db.execute("SELECT version_num FROM alembic_version").fetchone() or [None])[0] \
            if "alembic_version" in tables else None
        keys = db.execute("SELECT count(*) FROM identities").fetchone()[0] if "identities" in tables else 0
    return {"schema_revision": revision, "identities": int(keys)}


def pg_command_env(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for ``url`` without its password, and an environment carrying it (``PGPASSWORD``)
    so that it never shows in ``ps``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client tool, or a ``UsageError`` saying what to do without it."""
    found = shutil.which(name)
    if found is None:
        raise UsageError(f"{name} is not on PATH: install the PostgreSQL client tools (Debian: postgresql-client, "
                         f"the server's major version or newer), or back the database up with your own PostgreSQL "
                         f"tooling and run `mailseal backup --no-database`")
    return found


def _pg_facts(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from .database import make_engine, schema_revision

    engine = make_engine(url)
    try:
        revision = schema_revision(engine)
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT count(*) FROM identities")).scalar() if revision else 0
    finally:
        engine.dispose()
    return {"schema_revision": revision, "identities": int(keys or 0)}


def pg_dump(url: str, target: Path) -> None:
    """``pg_dump --format=custom`` of the database at ``url`` into ``target`` (one consistent snapshot)."""
    uri, env = pg_command_env(url)
    done = subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                           f"--file={target}", f"--dbname={uri}"], capture_output=True, env=env, check=False)
    if done.returncode:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[0]
        raise BackupError(f"pg_dump failed: {first}")
    target.chmod(0o600)


@contextmanager
def _staging(near: Path) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=".mailseal-backup-", dir=near))
    try:
        path.chmod(0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _copy(src: Path, staging: Path, member: str, members: dict[str, Path]) -> bool:
    """Copy ``src`` into the staging folder as ``member``; False when it vanished or is not a regular file."""
    dst = staging / member
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        if not src.is_file():
            return False
        shutil.copyfile(src, dst)
    except FileNotFoundError:  # a held message released while we copied: it is no longer held
        return False
    dst.chmod(0o600)
    members[member] = dst
    return True


def _store(sources: BackupSources, staging: Path, members: dict[str, Path]) -> dict[str, Any]:
    url = sources.database_url
    if url is None:
        return {"included": False, "reason": "left out on request (--no-database): back it up by other means"}
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1]) if "///" in url else None
        if path is None or str(path) == ":memory:":
            raise UsageError(f"cannot back up the SQLite database {url}: name a file")
        if not path.is_file():
            return {"included": False, "reason": f"no store database at {path} yet"}
        target = staging / STORE_SQLITE_MEMBER
        target.parent.mkdir(parents=True, exist_ok=True)
        sqlite_snapshot(path, target)
        members[STORE_SQLITE_MEMBER] = target
        return {"included": True, "backend": "sqlite", "member": STORE_SQLITE_MEMBER, **_sqlite_facts(target)}
    if url.startswith("postgresql"):
        pg_tool("pg_dump")
        facts = _pg_facts(url)
        target = staging / STORE_PG_MEMBER
        target.parent.mkdir(parents=True, exist_ok=True)
        pg_dump(url, target)
        members[STORE_PG_MEMBER] = target
        return {"included": True, "backend": "postgresql", "member": STORE_PG_MEMBER, **facts}
    raise UsageError(f"unsupported database URL {url.split(':', 1)[0]!r}")


def _ca(sources: BackupSources, staging: Path, members: dict[str, Path]) -> dict[str, Any]:
    if not (sources.ca_dir / "ca-key.json").is_file():
        return {"included": False, "reason": f"no CA in {sources.ca_dir}"}
    files = [name for name in CA_FILES if _copy(sources.ca_dir / name, staging, f"ca/{name}", members)]
    issued = 0
    if (sources.ca_dir / CA_REGISTER).is_file():
        target = staging / "ca" / CA_REGISTER
        sqlite_snapshot(sources.ca_dir / CA_REGISTER, target)
        members[f"ca/{CA_REGISTER}"] = target
        files.append(CA_REGISTER)
        with closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as db:
            issued = int(db.execute("SELECT count(*) FROM certificates").fetchone()[0])
        register = CA_REGISTER
    else:  # with a store, the register is in its database, and backed up with it (``ca_register``)
        from .ca_register import open_authority

        with open_authority(sources.ca_dir) as ca:
            issued = len(ca.records())
        register = "the store database"
    return {"included": True, "source": str(sources.ca_dir), "files": files, "issued": issued,
            "register": register, "key": "ca-key.json is sealed under the CA passphrase (scrypt + AES-256-GCM)"}


def _trust(sources: BackupSources, staging: Path, members: dict[str, Path]) -> dict[str, Any]:
    files = [n for n in TRUST_FILES if _copy(sources.trust_dir / n, staging, f"trust/{n}", members)]
    if not files:
        return {"included": False, "reason": f"no trust list in {sources.trust_dir}"}
    return {"included": True, "source": str(sources.trust_dir), "files": files}


def _settings(sources: BackupSources, staging: Path, members: dict[str, Path]) -> dict[str, Any]:
    if not _copy(sources.settings_file, staging, SETTINGS_MEMBER, members):
        return {"included": False, "reason": f"no settings file at {sources.settings_file}"}
    return {"included": True, "source": str(sources.settings_file)}


def _held(sources: BackupSources, staging: Path, members: dict[str, Path]) -> dict[str, Any]:
    directory = sources.held_dir
    names = sorted(p.name for p in directory.glob("*.json")) if directory.is_dir() else []
    count = 0
    for name in names:
        stem = name.removesuffix(".json")
        # The message first: a .json without its .eml would list a message that cannot be released.
        if _copy(directory / f"{stem}.eml", staging, f"held/{stem}.eml", members):
            if _copy(directory / name, staging, f"held/{name}", members):
                count += 1
            else:
                members.pop(f"held/{stem}.eml")
    return {"included": count > 0, "source": str(directory), "messages": count}


def _tar_add(tar: tarfile.TarFile, name: str, size: int, data: io.BufferedIOBase | io.BytesIO, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, mtime
    tar.addfile(info, data)


def create_backup(sources: BackupSources, out: Path, *, include_secrets: bool = False,
                  sealing: Sealing | None = None, now: datetime | None = None) -> BackupResult:
    """Write the archive ``out`` (gzip tar, the manifest first; mode 0600; replaced only when complete)."""
    from .. import __version__
    from .database import HEAD_REVISION

    sealing = sealing or Sealing()
    if include_secrets and not sealing.methods:
        raise UsageError("--include-secrets needs --passphrase-file FILE or --to-cert CERT: secrets are never "
                         "written in clear")
    if sealing.methods and not include_secrets:
        raise UsageError("--passphrase-file and --to-cert seal secrets: add --include-secrets, or leave them out")
    if include_secrets and not sources.secrets:
        raise UsageError("--include-secrets: there is no secret to include (set MAILSEAL_STORE_KEYFILE or "
                         "MAILSEAL_STORE_PASSPHRASE, and MAILSEAL_CA_PASSPHRASE, as the gateway and the CA use them)")
    if sealing.passphrase is not None and len(sealing.passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the backup passphrase must be at least {MIN_PASSPHRASE} characters: it protects the "
                         "store passphrase")
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    out = out.absolute()
    members: dict[str, Path] = {}
    with _staging(out.parent) as staging:
        contents: dict[str, Any] = {
            "store": _store(sources, staging, members),
            "ca": _ca(sources, staging, members),
            "trust_list": _trust(sources, staging, members),
            "settings": _settings(sources, staging, members),
            "held": _held(sources, staging, members),
        }
        digests = {name: sha256_file(path) for name, path in members.items()}
        not_included = list(sources.not_included)
        if include_secrets:
            payload = secrets_payload(sources.secrets, {n: d[0] for n, d in digests.items()})
            sealed: list[str] = []
            if sealing.passphrase is not None:
                path = staging / SECRETS_SEALED_TO_PASSPHRASE
                path.write_bytes(seal_to_passphrase(payload, sealing.passphrase))
                members[SECRETS_SEALED_TO_PASSPHRASE] = path
                sealed.append(SECRETS_SEALED_TO_PASSPHRASE)
            if sealing.certificate is not None:
                path = staging / SECRETS_SEALED_TO_CERTIFICATE
                path.write_bytes(seal_to_certificate(payload, sealing.certificate))
                members[SECRETS_SEALED_TO_CERTIFICATE] = path
                sealed.append(SECRETS_SEALED_TO_CERTIFICATE)
            for name in sealed:
                digests[name] = sha256_file(members[name])
            contents["secrets"] = {"included": True, "names": [s.name for s in sources.secrets],
                                   "origins": {s.name: s.origin for s in sources.secrets},
                                   "sealed_to": sealing.methods, "members": sealed}
        else:
            contents["secrets"] = {"included": False,
                                   "reason": "secrets are left out unless --include-secrets"}
            not_included.append("the store passphrase and the CA passphrase (no --include-secrets)")
        not_included.append("the spool (messages being processed: stop the gateway so it drains first)")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "mailseal_version": __version__,
            "created": created.isoformat().replace("+00:00", "Z"),
            "home": str(sources.home),
            "head_revision": HEAD_REVISION,
            "contents": contents,
            "not_included": not_included,
            "warning": KEYS_WARNING if not include_secrets else None,
            "members": {name: {"sha256": d[0], "size": d[1]} for name, d in digests.items()},
        }
        data = json.dumps(manifest, indent=1).encode() + b"\n"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
                    stamp = int(created.timestamp())
                    _tar_add(tar, MANIFEST, len(data), io.BytesIO(data), stamp)
                    for name, path in members.items():
                        with path.open("rb") as fh:
                            _tar_add(tar, name, digests[name][1], fh, stamp)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return BackupResult(out, out.stat().st_size, manifest)


__all__ = [
    "KEYS_WARNING",
    "BackupError",
    "BackupResult",
    "BackupSources",
    "Sealing",
    "create_backup",
    "pg_command_env",
    "pg_dump",
    "pg_tool",
    "sqlite_snapshot",
]

"""`mailseal restore`: a backup archive back into a home, all checked before anything is written.

Every member is read into a staging folder beside the home and its SHA-256 compared with the manifest; the sealed
secrets (when a passphrase or key is given) are opened and the member digests sealed with them compared too; the
SQLite copies pass ``PRAGMA integrity_check``. Only then is anything written: files through a temporary name and a
rename, the SQLite databases with the online backup API, a PostgreSQL dump with ``pg_restore --single-transaction``.
A damaged or tampered archive therefore leaves the home as it was (``ArchiveError``, code ``archive-invalid``).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..cms.identity import Identity
from ..errors import UsageError
from .archive import (
    MANIFEST,
    MAX_MANIFEST,
    SECRETS_SEALED_TO_CERTIFICATE,
    SECRETS_SEALED_TO_PASSPHRASE,
    ArchiveError,
    SecretItem,
    open_with_identity,
    open_with_passphrase,
    parse_manifest,
    parse_secrets_payload,
    write_private,
)
from .backup import STORE_PG_MEMBER, STORE_SQLITE_MEMBER, BackupError, pg_command_env, pg_tool, sqlite_snapshot

#: Where restored secrets go, in the home (0700 folder, 0600 files).
SECRETS_DIR = "secrets"


@dataclass(frozen=True)
class RestoreTarget:
    """Where to restore: the home, and the store database URL (the home's ``mailseal.db`` or ``$MAILSEAL_DB_URL``)."""

    home: Path
    database_url: str
    force: bool = False


@dataclass(frozen=True)
class SecretsKey:
    """What opens the archive's secrets: the backup passphrase, or the administrator's identity."""

    passphrase: bytes | None = None
    identity: Identity | None = None


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    restored: dict[str, Any] = field(default_factory=dict)  # what went where (the command prints it)


def _is_empty(home: Path) -> bool:
    return not home.exists() or (home.is_dir() and not any(home.iterdir()))


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:":
        raise UsageError(f"cannot restore into the SQLite database {url}: name a file")
    return Path(path)


def _open_tar(archive: Path) -> tarfile.TarFile:
    if not archive.is_file():
        raise UsageError(f"no backup archive at {archive}")
    try:
        return tarfile.open(archive, mode="r:gz")
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(f"{archive} is not a mailseal backup (not a gzip tar: {exc})") from None


def _next(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, OSError) as exc:
        raise ArchiveError(f"the archive is damaged or truncated: {exc}") from None


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    fh = tar.extractfile(info)
    if fh is None:
        raise ArchiveError(f"the archive member {info.name!r} is not a file")
    return fh


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of ``archive`` (its first member), checked; nothing else is read."""
    with _open_tar(archive) as tar:
        return _manifest(tar)


def _manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    first = _next(tar)
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > MAX_MANIFEST:
        raise ArchiveError(f"not a mailseal backup: the first member is not {MANIFEST}")
    try:
        data = _read(tar, first).read()
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise ArchiveError(f"the archive is damaged or truncated: {exc}") from None
    return parse_manifest(data)


def _extract(tar: tarfile.TarFile, manifest: dict[str, Any], staging: Path) -> None:
    """Every member after the manifest into ``staging``, each checked against the manifest's size and SHA-256."""
    expected: dict[str, dict[str, Any]] = manifest["members"]
    seen: set[str] = set()
    while (info := _next(tar)) is not None:
        name = info.name
        if name not in expected:
            raise ArchiveError(f"the archive holds {name!r}, which its manifest does not list")
        if name in seen or not info.isfile():
            raise ArchiveError(f"the archive member {name!r} is repeated or not a regular file")
        seen.add(name)
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        try:
            with _read(tar, info) as src, target.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    size += len(chunk)
                    if size > expected[name]["size"]:
                        break
                    digest.update(chunk)
                    dst.write(chunk)
        except (tarfile.TarError, zlib.error, EOFError) as exc:
            raise ArchiveError(f"the archive is damaged or truncated at {name!r}: {exc}") from None
        if size != expected[name]["size"] or digest.hexdigest() != expected[name]["sha256"]:
            raise ArchiveError(f"the archive member {name!r} does not match the SHA-256 in its manifest: the archive "
                               "is damaged or was changed")
    missing = sorted(set(expected) - seen)
    if missing:
        raise ArchiveError(f"the archive lacks {missing[0]!r}, which its manifest lists (truncated?)")


def _open_secrets(manifest: dict[str, Any], staging: Path, key: SecretsKey | None) -> tuple[SecretItem, ...]:
    info = manifest["contents"].get("secrets") or {}
    if key is None or (key.passphrase is None and key.identity is None):
        return ()
    if not info.get("included"):
        raise UsageError("the archive holds no secrets: restore it without --passphrase-file / --key")
    if key.passphrase is not None:
        member = SECRETS_SEALED_TO_PASSPHRASE
        if member not in manifest["members"]:
            raise UsageError("the archive's secrets are sealed to a certificate, not a passphrase: use --key")
        payload = open_with_passphrase((staging / member).read_bytes(), key.passphrase)
    else:
        assert key.identity is not None
        member = SECRETS_SEALED_TO_CERTIFICATE
        if member not in manifest["members"]:
            raise UsageError("the archive's secrets are sealed to a passphrase, not a certificate: use "
                             "--passphrase-file")
        payload = open_with_identity((staging / member).read_bytes(), key.identity)
    items, sealed_digests = parse_secrets_payload(payload)
    listed = {n: v["sha256"] for n, v in manifest["members"].items()
              if n not in (SECRETS_SEALED_TO_PASSPHRASE, SECRETS_SEALED_TO_CERTIFICATE)}
    if sealed_digests != listed:
        raise ArchiveError("the manifest does not match the member digests sealed with the secrets: the archive "
                           "was changed")
    return items


def _check_sqlite(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            check = db.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ArchiveError(f"the archived database is not a readable SQLite file: {exc}") from None
    if not check or check[0] != "ok":
        raise ArchiveError("the archived database fails SQLite's integrity check")


def _pg_is_empty(url: str) -> bool:
    from sqlalchemy import inspect

    from .database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        engine.dispose()


def _pg_restore(url: str, dump: Path, clean: bool) -> None:
    uri, env = pg_command_env(url)
    args = [pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
            f"--dbname={uri}", str(dump)]
    if clean:
        args[1:1] = ["--clean", "--if-exists"]
    done = subprocess.run(args, capture_output=True, env=env, check=False)
    if done.returncode:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[0]
        raise BackupError(f"pg_restore failed (the database is unchanged: one transaction): {first}")


def _check_target(manifest: dict[str, Any], target: RestoreTarget) -> None:
    """Refuse, before reading further, what restore would not do (all before anything is written)."""
    from .database import SchemaError, SchemaState

    if not target.force and not _is_empty(target.home):
        raise UsageError(f"{target.home} is not empty: restore into an empty home, or add --force to overwrite what "
                         "the archive holds")
    store = manifest["contents"].get("store") or {}
    if not store.get("included"):
        return
    revision = store.get("schema_revision")
    if revision is not None and SchemaState(revision).state == "ahead":
        raise SchemaError(f"the archive's store is at schema revision {revision}, which this mailseal does not "
                          "know: restore it with the version that made it (or a newer one)")
    db_path = _sqlite_path(target.database_url)
    backend = store.get("backend")
    if backend == "sqlite" and db_path is None:
        raise UsageError("the archive holds a SQLite store but $MAILSEAL_DB_URL names PostgreSQL: unset it to "
                         "restore into the home, or move the data yourself")
    if backend == "postgresql":
        if db_path is not None:
            raise UsageError("the archive holds a PostgreSQL dump: set $MAILSEAL_DB_URL to the (empty) database to "
                             "restore it into")
        pg_tool("pg_restore")
        if not target.force and not _pg_is_empty(target.database_url):
            raise UsageError("the PostgreSQL database is not empty: restore into an empty one, or add --force")
    if db_path is not None and db_path.exists() and not target.force:
        raise UsageError(f"{db_path} exists: restore into an empty home, or add --force")


def _place(src: Path, dst: Path) -> None:
    """``src`` to ``dst`` through a temporary name in ``dst``'s folder (0700) and a rename; the file is 0600."""
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = dst.with_name(f".{dst.name}.restore-tmp")
    shutil.copyfile(src, tmp)
    tmp.chmod(0o600)
    tmp.replace(dst)


@contextmanager
def _staging(home: Path) -> Iterator[Path]:
    home.parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-", dir=home.parent))
    try:
        path.chmod(0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _apply(manifest: dict[str, Any], staging: Path, target: RestoreTarget,
           secrets: tuple[SecretItem, ...]) -> dict[str, Any]:
    home = target.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)
    done: dict[str, Any] = {}
    members = [n for n in manifest["members"] if n not in (SECRETS_SEALED_TO_PASSPHRASE,
                                                             SECRETS_SEALED_TO_CERTIFICATE)]
    contents = manifest["contents"]
    for name in members:
        top, _, rest = name.partition("/")
        if top == "ca":
            dst = home / "ca" / rest
            if rest == "ca.db":
                dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                sqlite_snapshot(staging / name, dst, standalone=False)
            else:
                _place(staging / name, dst)
            (home / "ca").chmod(0o700)
            done.setdefault("ca", {"path": str(home / "ca"), "files": []})["files"].append(rest)
        elif top == "trust":
            _place(staging / name, home / "trust" / rest)
            done.setdefault("trust_list", {"path": str(home / "trust"), "files": []})["files"].append(rest)
        elif top == "settings":
            _place(staging / name, home / "mailseal.toml")
            done["settings"] = {"path": str(home / "mailseal.toml"), "was": contents["settings"].get("source")}
        elif top == "held":
            _place(staging / name, home / "held" / rest)
            held = done.setdefault("held", {"path": str(home / "held"), "messages": 0,
                                            "was": contents["held"].get("source")})
            held["messages"] += rest.endswith(".json")
    store = contents.get("store") or {}
    if STORE_SQLITE_MEMBER in members:
        db_path = _sqlite_path(target.database_url)
        assert db_path is not None
        db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sqlite_snapshot(staging / STORE_SQLITE_MEMBER, db_path, standalone=False)
        done["store"] = {"url": target.database_url, "backend": "sqlite",
                         "schema_revision": store.get("schema_revision"), "identities": store.get("identities")}
    elif STORE_PG_MEMBER in members:
        _pg_restore(target.database_url, staging / STORE_PG_MEMBER, target.force)
        done["store"] = {"url": target.database_url, "backend": "postgresql",
                         "schema_revision": store.get("schema_revision"), "identities": store.get("identities")}
    if secrets:
        folder = home / SECRETS_DIR
        folder.mkdir(exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        written = {}
        for item in secrets:
            write_private(folder / item.name, item.data)
            written[item.name] = {"path": str(folder / item.name), "origin": item.origin}
        done["secrets"] = written
    return done


def restore_backup(archive: Path, target: RestoreTarget, key: SecretsKey | None = None) -> RestoreResult:
    """Check ``archive`` whole, then restore it into ``target``; nothing is written when a check fails."""
    with _open_tar(archive) as tar:
        manifest = _manifest(tar)
        _check_target(manifest, target)
        with _staging(target.home) as staging:
            _extract(tar, manifest, staging)
            secrets = _open_secrets(manifest, staging, key)
            if STORE_SQLITE_MEMBER in manifest["members"]:
                _check_sqlite(staging / STORE_SQLITE_MEMBER)
            if "ca/ca.db" in manifest["members"]:
                _check_sqlite(staging / "ca" / "ca.db")
            restored = _apply(manifest, staging, target, secrets)
    return RestoreResult(manifest, restored)


def describe(manifest: dict[str, Any]) -> str:
    """One line naming the archive: when and by which version it was made."""
    return f"made {manifest.get('created')} by mailseal {manifest.get('mailseal_version')}"


__all__ = ["SECRETS_DIR", "RestoreResult", "RestoreTarget", "SecretsKey", "describe", "read_manifest",
           "restore_backup"]

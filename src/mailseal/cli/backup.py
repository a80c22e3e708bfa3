"""`mailseal backup` and `mailseal restore`: one archive of a home, and back (docs/operations.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigurationError, UsageError
from .common import handle_errors, print_json

if TYPE_CHECKING:
    from ..store.archive import SecretItem
    from ..store.backup import BackupSources

CA_PASSPHRASE_ENV = "MAILSEAL_CA_PASSPHRASE"


def _first_line(path: str, what: str) -> bytes:
    lines = Path(path).read_bytes().splitlines()
    if not lines or not lines[0]:
        raise UsageError(f"{what} {path} is empty")
    return lines[0]


def _key_files(settings: dict[str, Any]) -> list[tuple[str, Path]]:
    """The key files a home keeps beside the store, by their secret's name: the console key (``[web].key_file``,
    default ``console.key``: it seals the administrators' TOTP secrets and signs the verify page's links) and the
    portal key (``[portal].key_file``, default ``portal.key``: it wraps every portal message's key)."""
    from ..config import data_dir

    def named(table: str, default: str) -> Path:
        section = settings.get(table)
        value = section.get("key_file") if isinstance(section, dict) else None
        return Path(value) if isinstance(value, str) else data_dir() / default

    return [("console-key", named("web", "console.key")), ("portal-key", named("portal", "portal.key"))]


def _secrets(settings: dict[str, Any]) -> tuple[SecretItem, ...]:
    """The secrets as the gateway, the CA and the console read them: the store passphrase (store/passphrase.py: the
    systemd credential, the variable, else the key file), the CA passphrase (variable) and the key files that exist
    (``_key_files``); without the console key a restored home could not check any administrator's second factor."""
    from ..store.archive import SecretItem
    from ..store.passphrase import passphrase_source, resolve_passphrase

    items = []
    source = passphrase_source()  # the systemd credential, the variable or the key file, as the gateway reads them
    if source is not None:
        items.append(SecretItem("store-passphrase", source, resolve_passphrase()))
    if os.environ.get(CA_PASSPHRASE_ENV):
        items.append(SecretItem("ca-passphrase", f"${CA_PASSPHRASE_ENV}", os.environ[CA_PASSPHRASE_ENV].encode()))
    items.extend(SecretItem(name, str(path), path.read_bytes()) for name, path in _key_files(settings) if path.is_file())
    return tuple(items)


def _sources(no_database: bool, include_secrets: bool) -> BackupSources:
    from ..config import data_dir, load_settings, settings_path
    from ..pki.authority import default_directory
    from ..pki.trustlist import trust_dir
    from ..store.backup import BackupSources
    from ..store.database import DB_URL_ENV, SQLITE_FILE

    home = data_dir()
    if not home.is_dir() and (no_database or not os.environ.get(DB_URL_ENV)):
        raise UsageError(f"there is no home at {home}: nothing to back up (give --home DIR)")
    notes: list[str] = []
    held_dir = home / "held"
    # The raw table, not GatewaySettings: a backup must not depend on settings complete enough to serve.
    settings: dict[str, Any] = {}
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        notes.append(f"the settings file could not be read ({exc.message}): held mail was looked for in {held_dir}")
    gateway = settings.get("gateway", {})
    if isinstance(gateway, dict):
        if isinstance(gateway.get("held_dir"), str):
            held_dir = Path(gateway["held_dir"]).absolute()
        tls: dict[str, Any] = gateway["tls"] if isinstance(gateway.get("tls"), dict) else {}
        named = [*(gateway.get("trust_files") or []), *(tls.get(k) for k in ("certificate", "key"))]
        notes.extend(f"{p} (named by the settings file: keep it with the host's files)"
                     for p in named if isinstance(p, str))
    url = None if no_database else os.environ.get(DB_URL_ENV) or f"sqlite:///{home / SQLITE_FILE}"
    return BackupSources(home=home, database_url=url, ca_dir=default_directory(), trust_dir=trust_dir(),
                         settings_file=settings_path(), held_dir=held_dir,
                         secrets=_secrets(settings) if include_secrets else (), not_included=tuple(notes))


def _included_lines(contents: dict[str, Any]) -> list[str]:
    lines = []
    store = contents["store"]
    if store.get("included"):
        lines.append(f"store: {store['backend']} database (schema revision {store.get('schema_revision') or '-'}; "
                     f"identities: {store.get('identities', 0)}, their keys sealed under the store passphrase)")
    ca = contents["ca"]
    if ca.get("included"):
        lines.append(f"CA: {', '.join(ca['files'])} (certificates in the register: {ca['issued']}; the key is "
                     "sealed under the CA passphrase)")
    if contents["trust_list"].get("included"):
        lines.append(f"trust list: {', '.join(contents['trust_list']['files'])}")
    if contents["settings"].get("included"):
        lines.append(f"settings: {contents['settings']['source']}")
    held = contents["held"]
    if held.get("included"):
        lines.append(f"held mail: {held['source']} (messages: {held['messages']})")
    secrets = contents["secrets"]
    if secrets.get("included"):
        lines.append(f"secrets: {', '.join(secrets['names'])}, sealed to the {' and the '.join(secrets['sealed_to'])}")
    return lines


@click.command("backup")
@click.option("-o", "--out", "outfile", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The archive to write (gzip tar; mode 0600).")
@click.option("--include-secrets", is_flag=True,
              help="Also the store passphrase (the systemd credential, $MAILSEAL_STORE_PASSPHRASE or the key file) and the CA passphrase "
                   "($MAILSEAL_CA_PASSPHRASE), sealed: needs --passphrase-file and/or --to-cert.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Seal the secrets to the passphrase on this file's first line (scrypt + AES-256-GCM).")
@click.option("--to-cert", type=click.Path(dir_okay=False, exists=True), metavar="CERT",
              help="Seal the secrets to this administrator's certificate (CMS AuthEnvelopedData).")
@click.option("--no-database", is_flag=True,
              help="Leave the store database out (backed up by other means, e.g. PostgreSQL's own tools).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@handle_errors
def backup_cmd(outfile: str, include_secrets: bool, passphrase_file: str | None, to_cert: str | None,
               no_database: bool, as_json: bool) -> None:
    """Write one archive of the home: a consistent snapshot of the store database (SQLite backup API, or pg_dump),
    the CA (certificate, sealed key, register), the trust list, the settings file and the held mail, with a
    manifest of SHA-256 digests. Secrets are left out unless --include-secrets."""
    from ..cms.identity import load_certificates
    from ..store.backup import Sealing, create_backup

    passphrase = _first_line(passphrase_file, "the passphrase file") if passphrase_file else None
    certificate = None
    if to_cert:
        certs = load_certificates(Path(to_cert).read_bytes())
        if len(certs) != 1:
            raise UsageError(f"--to-cert {to_cert}: give a file with exactly one certificate ({len(certs)} found)")
        certificate = certs[0]
    result = create_backup(_sources(no_database, include_secrets), Path(outfile), include_secrets=include_secrets,
                           sealing=Sealing(passphrase, certificate))
    manifest = result.manifest
    if as_json:
        print_json(manifest)
    else:
        click.echo(f"backup written to {result.path} ({result.size} bytes, {len(manifest['members'])} members, "
                   "each with its SHA-256 in the manifest)")
        click.echo("included:")
        for line in _included_lines(manifest["contents"]):
            click.echo(f"  {line}")
        click.echo("not included:")
        for line in manifest["not_included"]:
            click.echo(f"  {line}")
    if manifest.get("warning"):
        click.echo(f"mailseal: WARNING: {manifest['warning']}", err=True)


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Restore into a home (or database) that is not empty, overwriting "
                                            "what the archive holds (stop the gateway first).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Open the sealed secrets with the passphrase on this file's first line.")
@click.option("--key", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Open the sealed secrets with this administrator's key (PKCS#12, or PEM with --cert).")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True), help="The certificate of --key (PEM key).")
@click.option("--pass", "pass_spec", metavar="SPEC", help="Password of --key: pass:TEXT, env:VAR or file:PATH.")
@click.option("--json", "as_json", is_flag=True, help="Print what was restored as JSON.")
@handle_errors
def restore_cmd(archive: str, force: bool, passphrase_file: str | None, key: str | None, cert: str | None,
                pass_spec: str | None, as_json: bool) -> None:
    """Restore ARCHIVE into the home (which must be empty unless --force): every member's SHA-256 is checked
    against the manifest before anything is written; the databases are written with SQLite's backup API (or
    pg_restore into $MAILSEAL_DB_URL)."""
    from ..config import data_dir
    from ..store.database import DB_URL_ENV, HEAD_REVISION, SQLITE_FILE
    from ..store.restore import RestoreTarget, SecretsKey, describe, restore_backup
    from .common import load_identity

    if passphrase_file and key:
        raise UsageError("give --passphrase-file or --key, not both")
    secrets_key = None
    if passphrase_file:
        secrets_key = SecretsKey(passphrase=_first_line(passphrase_file, "the passphrase file"))
    elif key:
        secrets_key = SecretsKey(identity=load_identity(key, cert, None, pass_spec))
    home = data_dir()
    url = os.environ.get(DB_URL_ENV) or f"sqlite:///{home / SQLITE_FILE}"
    result = restore_backup(Path(archive), RestoreTarget(home, url, force), secrets_key)
    manifest, done = result.manifest, result.restored
    contents = manifest["contents"]
    if as_json:
        print_json({"archive": str(Path(archive).absolute()), "home": str(home), "created": manifest.get("created"),
                    "restored": done})
        return
    click.echo(f"restored {archive} ({describe(manifest)}) into {home}; every member matched its SHA-256")
    if "store" in done:
        store = done["store"]
        click.echo(f"  store: {store['url']} ({store['backend']}, schema revision {store['schema_revision']}, "
                   f"identities: {store['identities']})")
    for name, label in (("ca", "CA"), ("trust_list", "trust list")):
        if name in done:
            click.echo(f"  {label}: {done[name]['path']} ({', '.join(done[name]['files'])})")
    if "settings" in done:
        click.echo(f"  settings: {done['settings']['path']} (was {done['settings']['was']})")
    if "held" in done:
        click.echo(f"  held mail: {done['held']['path']} (messages: {done['held']['messages']}; they were in "
                   f"{done['held']['was']}: set gateway.held_dir if they belong elsewhere)")
    if "secrets" in done:
        for name, where in done["secrets"].items():
            click.echo(f"  secret {name}: {where['path']} (was {where['origin']}); move it where the service reads "
                       "it and point the variable at it")
    elif contents["secrets"].get("included"):
        click.echo("  secrets: in the archive but not restored (give --passphrase-file or --key to open them)")
    else:
        click.echo("  secrets: not in the archive: the store passphrase (and the CA passphrase) must come from "
                   "where you keep them")
    revision = contents["store"].get("schema_revision")
    if revision and revision != HEAD_REVISION:
        click.echo(f"the store's schema is at revision {revision}; this mailseal needs {HEAD_REVISION}: run "
                   "`mailseal store upgrade` before `mailseal serve`")

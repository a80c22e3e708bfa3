"""`mailseal certs import|list|find|show|remove`: the certificate directory of correspondents (`certs expiring`,
which also looks at the CA, the key store and the trust anchors, is in cli/certs.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography import x509

from ..cms.names import name_text
from ..errors import CertificateError, UsageError
from .common import EXIT_NOT_VALID, handle_errors, print_json
from .progress import counting

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported by the commands that open it, not by `certs inspect`
    from ..store.directory import Directory, DirectoryEntry

MAX_FILE_BYTES = 16 * 1024 * 1024
IMPORT_BATCH = 200  # certificates per transaction, and per step of the progress bar


def _directory() -> Directory:
    from ..store.database import Store
    from ..store.directory import Directory

    return Directory(Store.open())


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def _line(e: DirectoryEntry) -> str:
    return f"{e.fingerprint[:16]}\t{e.address}\t{e.source}\t{e.not_after.date()}\t{name_text(e.certificate.subject)}"


def _print_entries(entries: list[DirectoryEntry], as_json: bool) -> None:
    if as_json:
        print_json({"certificates": [e.to_dict() for e in entries]})
        return
    for e in entries:
        click.echo(_line(e))


@click.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def import_cmd(path: str, as_json: bool) -> None:
    """Import correspondents' certificates from a file or a directory (PEM, DER, PKCS#7 certs-only, LDIF)."""
    from ..cms.identity import load_certificates
    from ..store.ldif import certificates_from_ldif, looks_like_ldif

    files = _files(Path(path))
    directory = _directory()
    added: list[dict[str, Any]] = []
    known: list[str] = []
    skipped: list[dict[str, str]] = []
    # First every file is read (a bar over the files), then the certificates are filed a batch at a time (a bar
    # over the certificates): one LDIF export or P7B bundle may hold thousands.
    found: list[tuple[Path, list[x509.Certificate]]] = []
    with counting(len(files), "reading files", allowed=not as_json) as advance:
        for file in files:
            try:
                if file.stat().st_size > MAX_FILE_BYTES:
                    raise CertificateError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
                data = file.read_bytes()
                if file.suffix.lower() == ".ldif" or looks_like_ldif(data):
                    certs, reasons = certificates_from_ldif(data)
                    skipped.extend({"file": str(file), "reason": reason} for reason in reasons)
                else:
                    certs = load_certificates(data)
                found.append((file, certs))
            except CertificateError as exc:
                skipped.append({"file": str(file), "reason": exc.message})
            advance(1)
    total = sum(len(certs) for _, certs in found)
    with counting(total, "importing certificates", allowed=not as_json) as advance:
        for file, certs in found:
            for start in range(0, len(certs), IMPORT_BATCH):
                batch = certs[start:start + IMPORT_BATCH]
                for outcome in directory.add_many(batch, batch=IMPORT_BATCH):
                    if outcome.status == "added":
                        added.append({"file": str(file), "fingerprint_sha256": outcome.fingerprint,
                                      "addresses": list(outcome.addresses)})
                    elif outcome.status == "known":
                        known.append(outcome.fingerprint)
                    else:
                        skipped.append({"file": str(file), "fingerprint_sha256": outcome.fingerprint,
                                        "reason": outcome.reason or "skipped"})
                advance(len(batch))
    if as_json:
        print_json({"imported": added, "already_known": len(known), "skipped": skipped})
        return
    click.echo(f"imported {len(added)} certificate(s), {len(known)} already known, {len(skipped)} skipped")
    for s in skipped:
        fp = f" ({s['fingerprint_sha256'][:16]})" if "fingerprint_sha256" in s else ""
        click.echo(f"skipped {s['file']}{fp}: {s['reason']}")


@click.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List every certificate in the directory, by address."""
    _print_entries(_directory().entries(), as_json)


@click.command("find")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def find_cmd(email: str, as_json: bool) -> None:
    """Certificates for EMAIL (exit 1 when there is none)."""
    entries = _directory().find(email)
    _print_entries(entries, as_json)
    if not entries:
        if not as_json:
            click.echo(f"no certificate for {email}", err=True)
        sys.exit(EXIT_NOT_VALID)


@click.command("show")
@click.argument("fingerprint")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show_cmd(fingerprint: str, as_json: bool) -> None:
    """Show one certificate by SHA-256 fingerprint (or a unique prefix of 8+ hex digits)."""
    entries = _directory().show(fingerprint)
    if not entries:
        raise UsageError(f"no certificate with fingerprint {fingerprint}")
    if as_json:
        first = entries[0].to_dict()
        first["addresses"] = [e.address for e in entries]
        del first["address"], first["id"]
        print_json(first)
        return
    info = entries[0].to_dict()
    info["address"] = ", ".join(e.address for e in entries)
    del info["id"]
    for key, value in info.items():
        click.echo(f"{key}: {value}")


@click.command("remove")
@click.argument("fingerprint")
@handle_errors
def remove_cmd(fingerprint: str) -> None:
    """Remove a certificate (under every address) by SHA-256 fingerprint."""
    count = _directory().remove(fingerprint)
    click.echo(f"removed the certificate from {count} address(es)")


DIRECTORY_COMMANDS: list[click.Command] = [import_cmd, list_cmd, find_cmd, show_cmd, remove_cmd]


@click.group("certs")
def directory_certs() -> None:
    """The certificate directory (to be merged into `mailseal certs`)."""


for _command in DIRECTORY_COMMANDS:
    directory_certs.add_command(_command)


if __name__ == "__main__":  # pragma: no cover - `python -m mailseal.cli.directory` until main.py attaches them
    directory_certs(prog_name="mailseal certs")

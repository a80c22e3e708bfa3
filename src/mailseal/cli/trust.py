"""The `mailseal trust` command group: the persistent trust list (list, add/import, remove, export as PEM or SST)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import click
from cryptography import x509

from ..config import data_dir
from ..errors import UsageError
from ..pki.trustlist import ExportFormat, TrustEntry
from ..pki.truststore import read_certificate_file
from .common import apply, handle_errors, print_json, with_password, write_out

_STORE_HELP = ("Use the trust list in the store database even when no store exists yet (it is created); without "
               "--store the database is used whenever a store exists ($MAILSEAL_DB_URL, or mailseal.db in the "
               "data directory), else the files.")


def _line(verb: str, entry: TrustEntry) -> str:
    return f"{verb} {entry.kind}: {entry.subject} (sha256 {entry.fingerprint[:16]}...)"


@click.group("trust")
def trust_group() -> None:
    """The trust list: anchors and intermediates, in the store database when a store exists, else in the data
    directory ($MAILSEAL_HOME/trust).

    Files are read in any format, told by content: PEM, DER, PKCS#7 certs-only (.p7b/.p7c), PKCS#12 and
    Microsoft serialized certificate stores (.sst, from Export-Certificate -Type SST).
    """


@trust_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the certificates as JSON.")
@click.option("--store", "use_store", is_flag=True, help=_STORE_HELP)
@handle_errors
def list_cmd(as_json: bool, use_store: bool) -> None:
    """List the anchors, then the intermediates."""
    from ..store.trust import open_trust_list

    with open_trust_list(use_store=use_store) as trust:
        current = trust.entries()
        where = trust.where
    if as_json:
        print_json({"certificates": [e.to_dict() for e in current]})
        return
    if not current:
        click.echo(f"{where} is empty")
        return
    for e in current:
        d = e.to_dict()
        click.echo(f"{e.kind:<12} {e.fingerprint[:16]}  {e.subject}  (until {d['not_after']})")
    anchors = sum(1 for e in current if e.kind == "anchor")
    click.echo(f"{anchors} anchor(s), {len(current) - anchors} intermediate(s)")


def _read(files: Sequence[str], pass_spec: str | None) -> list[x509.Certificate]:
    """The certificates of every file; a protected PKCS#12 without --pass asks for its password on the terminal."""
    from .progress import counting

    certs: list[x509.Certificate] = []
    with counting(len(files), "reading files") as advance:
        for f in files:
            certs.extend(with_password(functools.partial(_read_file, f), f, pass_spec))
            advance(1)
    return certs


def _read_file(path: str, secret: bytes | None) -> list[x509.Certificate]:
    return read_certificate_file(path, password=secret)


def _add(files: Sequence[str], intermediate: bool, allow_leaf: bool, pass_spec: str | None,
         use_store: bool = False) -> None:
    from ..store.trust import StoredTrust, open_trust_list

    certs = _read(files, pass_spec)
    with open_trust_list(use_store=use_store) as trust:
        result = trust.add(certs, intermediate=intermediate, allow_leaf=allow_leaf)
        stored = isinstance(trust, StoredTrust)
    for e in result.added:
        click.echo(_line("added", e))
    for e in result.moved:
        click.echo(_line("moved to", e))
    for e in result.unchanged:
        click.echo(_line("already present as", e))
    click.echo(f"{len(result.added)} added, {len(result.moved)} moved, {len(result.unchanged)} already present"
               + (" (store database)" if stored else ""))


_add_options = [
    click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False)),
    click.option("--intermediate", is_flag=True, help="Add as intermediates (path building only), not anchors."),
    click.option("--allow-leaf", is_flag=True, help="Accept certificates that are not CA certificates."),
    click.option("--pass", "pass_spec", metavar="SPEC", help="PKCS#12 password: pass:TEXT, env:VAR or file:PATH."),
    click.option("--store", "use_store", is_flag=True, help=_STORE_HELP),
]


@trust_group.command("add")
@apply(_add_options)
@handle_errors
def add_cmd(files: tuple[str, ...], intermediate: bool, allow_leaf: bool, pass_spec: str | None,
            use_store: bool) -> None:
    """Add the certificates of FILE... as anchors (or --intermediate); all or nothing."""
    _add(files, intermediate, allow_leaf, pass_spec, use_store)


@trust_group.command("import")
@apply(_add_options)
@handle_errors
def import_cmd(files: tuple[str, ...], intermediate: bool, allow_leaf: bool, pass_spec: str | None,
               use_store: bool) -> None:
    """Same as `trust add`."""
    _add(files, intermediate, allow_leaf, pass_spec, use_store)


@trust_group.command("remove")
@click.argument("selector")
@click.option("--all", "all_matches", is_flag=True, help="Remove every certificate the selector matches.")
@click.option("--store", "use_store", is_flag=True, help=_STORE_HELP)
@handle_errors
def remove_cmd(selector: str, all_matches: bool, use_store: bool) -> None:
    """Remove by SHA-256 fingerprint prefix, part of the subject, or the certificates of a file."""
    from ..store.trust import open_trust_list

    with open_trust_list(use_store=use_store) as trust:
        removed = trust.remove(selector, all_matches=all_matches)
    for e in removed:
        click.echo(_line("removed", e))


@trust_group.command("export")
@click.option("-o", "--out", "outfile", metavar="FILE", help="Write to FILE (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["pem", "sst"]),
              help="pem (a bundle) or sst (for Exchange: Set-SmimeConfig -SMIMECertificateIssuingCA); "
                   "default: sst when FILE ends in .sst, else pem.")
@click.option("--anchors-only", is_flag=True, help="Leave the intermediates out.")
@click.option("--store", "use_store", is_flag=True, help=_STORE_HELP)
@handle_errors
def export_cmd(outfile: str | None, fmt: str | None, anchors_only: bool, use_store: bool) -> None:
    """Export the trust list: anchors, then intermediates."""
    from ..store.trust import open_trust_list

    chosen: ExportFormat = "sst" if fmt == "sst" or (fmt is None and (outfile or "").lower().endswith(".sst")) \
        else "pem"
    with open_trust_list(use_store=use_store) as trust:
        if not trust.entries():
            raise UsageError(f"{trust.where} is empty: nothing to export (data directory: {data_dir()})")
        data = trust.export(chosen, anchors_only=anchors_only)
    write_out(outfile, data)


__all__ = ["trust_group"]

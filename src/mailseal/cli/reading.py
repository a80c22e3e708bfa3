"""The commands that read protection: ``verify``, ``open`` and ``inspect``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..mime.inspection import inspect_message
from ..mime.opening import KeyChooser, Opened, open_message
from .common import (
    EXIT_NOT_VALID,
    apply,
    extra_certs,
    handle_errors,
    io_options,
    load_identity,
    print_json,
    read_in,
    settings_limits,
    trust_options,
    validation_from_options,
    validation_options,
)
from .render import render, render_layers
from .storekeys import StoreKeys, store_keys, used_dicts, used_text
from .streams import input_stream, output_stream

if TYPE_CHECKING:
    from ..cms.identity import Identity

content_out = click.option(
    "-o", "--out", "outfile", metavar="FILE",
    help="Also write the content (the innermost entity) to FILE; '-' for stdout, which moves the report to "
         "stderr. Without -o only the report is printed.")


def _harvest(opened: Opened) -> dict[str, Any]:
    """File the valid signer's certificate and capabilities in the directory (issue 5 harvesting)."""
    from ..mime.opening import from_addresses
    from ..store.database import Store
    from ..store.harvesting import harvest

    froms = (from_addresses(opened.inner) or from_addresses(opened.root)) if opened.root is not None else []
    if len(froms) != 1 or not opened.report.signed:
        return {"added": [], "seen": [], "ignored": ["no single From address or no signature to harvest"]}
    result = harvest(opened.report, froms[0], Store.open())
    return {"added": result.added, "seen": result.seen, "new_key": result.new_key,
            "capabilities_learned": result.capabilities_learned, "ignored": result.ignored}


def _write_content(opened: Opened, outfile: str | None) -> None:
    """The content for ``-o``, while the input is still open (the content is read from it)."""
    if outfile is not None:
        # Decrypted content is for the recipient alone: 0600, like a key; signed-only content keeps the umask's mode.
        with output_stream(outfile, private=opened.report.encrypted) as sink:
            opened.write_message(sink)


def _finish(opened: Opened, as_json: bool, outfile: str | None, require_signed: bool,
            harvested: dict[str, Any] | None = None, chooser: StoreKeys | None = None) -> None:
    """The content goes only to ``-o`` (a file, or ``-`` for stdout); the report to stdout, or to stderr when the
    content takes stdout, so that the two never mix in one stream."""
    report = opened.report
    report_on_stderr = outfile == "-"
    if as_json:
        data = report.to_dict()
        if harvested is not None:
            data["harvest"] = harvested
        if chooser is not None and chooser.used:
            data["decrypted_with"] = used_dicts(chooser)
        print_json(data, err=report_on_stderr)
    else:
        click.echo(render(report), err=report_on_stderr)
        for record in chooser.used if chooser is not None else ():
            click.echo(f"decrypted with {used_text(record)}", err=report_on_stderr)
        if harvested is not None:
            click.echo(f"harvest: {len(harvested['added'])} certificate(s) added, {len(harvested['seen'])} already "
                       "known" + ("; a new key beside a known one" if harvested.get("new_key") else ""),
                       err=report_on_stderr)
    if require_signed and not report.valid:
        sys.exit(EXIT_NOT_VALID)
    if not require_signed and report.signed and not report.valid:
        sys.exit(EXIT_NOT_VALID)


@click.command("verify")
@apply([io_options[0], content_out, *trust_options, *validation_options])
@click.option("--content", "content", type=click.Path(dir_okay=False),
              help="The signed content, for a bare detached CMS signature.")
@click.option("--harvest", is_flag=True,
              help="File a valid signer's certificate and capabilities in the certificate directory.")
@handle_errors
def verify_cmd(
    infile: str | None, outfile: str | None, trust: tuple[str, ...], system_trust: bool, at: str | None,
    certs: tuple[str, ...], as_json: bool, content: str | None, harvest: bool, **validation: Any,
) -> None:
    """Verify a signed message and print the report; exit 0 only when every signer is valid. Only -o writes the
    signed content."""
    context = validation_from_options(trust, system_trust, at, validation)
    # An encrypted message (signed inside) is opened with the key store's identity it is encrypted for, as open
    # does without --key; a signed-only message never opens the store.
    chooser = store_keys(None)
    with input_stream(infile, progress=not as_json) as source:
        opened = open_message(
            source,
            identities=chooser,
            context=context,
            extra_certificates=extra_certs(certs),
            detached_content=Path(content).read_bytes() if content else None,
            limits=settings_limits(),
            keep_inner_encrypted=True,  # signed, encrypted, signed: the outer signature is reported without a key
        )
        _write_content(opened, outfile)
        harvested = _harvest(opened) if harvest else None  # reads the message's From: the input must be open
    # The report after the input is closed, so that it never prints through a progress bar.
    _finish(opened, as_json, outfile, require_signed=True, harvested=harvested, chooser=chooser)


@click.command("open")
@apply([io_options[0], content_out, *trust_options, *validation_options])
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False),
              help="Private key or PKCS#12 file to decrypt with (repeatable) [default: at each encrypted layer, "
                   "the key store's identity it is encrypted for].")
@click.option("--cert", type=click.Path(dir_okay=False), help="Certificate of a PEM --key.")
@click.option("--pass", "pass_spec", metavar="SPEC", help="Password: pass:TEXT, env:VAR or file:PATH.")
@click.option("--as", "as_address", metavar="ADDR",
              help="Decrypt with ADDR's identity from the key store (it must be a recipient of each encrypted layer).")
@click.option("--harvest", is_flag=True,
              help="File a valid signer's certificate and capabilities in the certificate directory.")
@handle_errors
def open_cmd(
    infile: str | None, outfile: str | None, trust: tuple[str, ...], system_trust: bool, at: str | None,
    certs: tuple[str, ...], as_json: bool, keys: tuple[str, ...], cert: str | None, pass_spec: str | None,
    as_address: str | None, harvest: bool, **validation: Any,
) -> None:
    """Unwrap every layer (decrypt, verify) and print the report; only -o writes the content (0600 if it was
    encrypted). Without --key, each encrypted layer is opened with the key store's identity it names."""
    if keys and as_address is not None:
        raise UsageError("give either --key (key files) or --as ADDR (an identity in the key store)")
    chooser = None if keys else store_keys(as_address)
    identities: Sequence[Identity] | KeyChooser = (
        [load_identity(k, cert, None, pass_spec) for k in keys] if chooser is None else chooser)
    context = validation_from_options(trust, system_trust, at, validation)
    with input_stream(infile, progress=not as_json) as source:
        opened = open_message(source, identities=identities, context=context, extra_certificates=extra_certs(certs),
                              limits=settings_limits())
        _write_content(opened, outfile)
        harvested = _harvest(opened) if harvest else None
    _finish(opened, as_json, outfile, require_signed=False, harvested=harvested, chooser=chooser)


@click.command("inspect")
@apply(io_options[:1])
@click.option("--json", "as_json", is_flag=True, help="Print the structure as JSON.")
@handle_errors
def inspect_cmd(infile: str | None, as_json: bool) -> None:
    """Show the S/MIME/CMS structure: layers, algorithms, recipients, signers."""
    layers = inspect_message(read_in(infile))
    if as_json:
        print_json({"layers": layers})
        return
    click.echo(render_layers(layers))

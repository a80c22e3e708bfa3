"""The `mailseal keys` command group: identities in the key store (keys encrypted at rest, AES-256-GCM + scrypt)."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..store.keystore import EXPORT_ENV, USAGES, IdentityRecord, KeyStore, resolve_passphrase
from .common import handle_errors, load_identity, password, print_json, write_out


def _prompt() -> bytes:
    from .terminal import read_secret

    secret = read_secret("Key store passphrase: ")
    if secret is None:
        raise UsageError("no key store passphrase: set MAILSEAL_STORE_PASSPHRASE or MAILSEAL_STORE_KEYFILE (or run "
                         "under systemd with the credential store-passphrase), or run it on a terminal")
    return secret


def keystore() -> KeyStore:
    """The key store in the data directory, unlocked with the passphrase from the environment or a prompt; keys on
    a PKCS#11 token use the ``[pkcs11]`` settings and the PIN from ``$MAILSEAL_PKCS11_PIN``."""
    from ..cms.token import TokenSettings
    from ..config import load_settings
    from ..store.database import Store

    settings = TokenSettings.from_mapping(load_settings().get("pkcs11"))
    return KeyStore(Store.open(), lambda: resolve_passphrase(_prompt), pkcs11=settings)


@click.group("keys")
def keys_group() -> None:
    """Identities (private key + certificate + chain) kept in the store."""


@keys_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True), metavar="FILE...")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True), help="The key's certificate (if not in FILE).")
@click.option("--chain", type=click.Path(dir_okay=False, exists=True), help="Intermediate certificates.")
@click.option("--pass", "pass_spec", metavar="SPEC", help="Password of FILE: pass:TEXT, env:VAR or file:PATH.")
@click.option("--usage", type=click.Choice(USAGES), default=None,
              help="What the identity is for: signing, encryption or both [default: what the certificate's key "
                   "usage allows].")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def import_cmd(files: tuple[str, ...], cert: str | None, chain: str | None, pass_spec: str | None, usage: str | None,
               as_json: bool) -> None:
    """Import each FILE: a PKCS#12 file, or a PEM/DER private key with --cert (one FILE then). Every file is
    read (and its password asked) before anything is filed."""
    from ..cms.token import TokenKey
    from .progress import counting

    if cert is not None and len(files) > 1:
        raise UsageError("--cert belongs to one key: give one FILE with it (PKCS#12 files carry their certificate)")
    # A bar is drawn only while nothing can be asked on the terminal: with --pass no key password is, and the
    # store passphrase is asked (unlock) before the identities are filed.
    identities = []
    with counting(len(files), "reading keys", allowed=not as_json and pass_spec is not None) as advance:
        for file in files:
            identities.append(load_identity(file, cert, chain, pass_spec))
            advance(1)
    ks = keystore()
    if any(not isinstance(i.private_key, TokenKey) for i in identities):
        ks.unlock()
    ids: list[int] = []
    with counting(len(identities), "importing identities", allowed=not as_json) as advance:
        for identity in identities:
            ids.extend(ks.add(identity, usage))
            advance(1)
    records = [r for r in ks.list() if r.id in ids]
    if as_json:
        print_json({"imported": [r.to_dict() for r in records]})
        return
    for r in records:
        click.echo(f"imported identity {r.id}: {r.address} ({r.usage}) {r.fingerprint[:16]}")


@keys_group.command("import-token")
@click.option("--module", "module", metavar="PATH", help="The PKCS#11 module (default: [pkcs11] module in the "
              "settings or $MAILSEAL_PKCS11_MODULE), e.g. /usr/lib/softhsm/libsofthsm2.so.")
@click.option("--token", "token", metavar="LABEL", required=True, help="The token's label.")
@click.option("--key-label", metavar="LABEL", help="The private key's label (CKA_LABEL).")
@click.option("--key-id", metavar="HEX", help="The private key's id (CKA_ID) in hex.")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True),
              help="The key's certificate (default: the certificate with the key's id on the token).")
@click.option("--chain", type=click.Path(dir_okay=False, exists=True), help="Intermediate certificates.")
@click.option("--usage", type=click.Choice(USAGES), default=None,
              help="What the identity is for: signing, encryption or both [default: what the certificate's key "
                   "usage allows].")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def import_token_cmd(module: str | None, token: str, key_label: str | None, key_id: str | None, cert: str | None,
                     chain: str | None, usage: str | None, as_json: bool) -> None:
    """File a key that stays on a PKCS#11 token (PIN from $MAILSEAL_PKCS11_PIN): the store keeps where it is."""
    from pathlib import Path

    from ..cms.identity import Identity
    from ..cms.token import TokenURI

    if (key_label is None) == (key_id is None):
        raise UsageError("give the key by --key-label or by --key-id")
    try:
        raw_id = bytes.fromhex(key_id) if key_id is not None else None
    except ValueError:
        raise UsageError(f"--key-id {key_id!r} is not hexadecimal") from None
    ks = keystore()
    uri = TokenURI(token=token, object=key_label, id=raw_id, module=module)
    identity = Identity.from_token(str(uri), Path(cert).read_bytes() if cert else None,
                                   Path(chain).read_bytes() if chain else None, settings=ks.token_settings)
    ids = ks.add_token_identity(identity, usage)
    records = [r for r in ks.list() if r.id in ids]
    if as_json:
        print_json({"imported": [r.to_dict() for r in records]})
        return
    for r in records:
        click.echo(f"imported identity {r.id}: {r.address} ({r.usage}) {r.fingerprint[:16]} on {r.key_location}")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the identities (never the keys)."""
    records = keystore().list()
    if as_json:
        print_json({"identities": [r.to_dict() for r in records]})
        return
    if not records:
        click.echo("no identities in the key store (mailseal keys import FILE)")
        return
    from .render import table

    click.echo(table(["ID", "ADDRESS", "USAGE", "EXPIRES", "FINGERPRINT", "KEY", "SUBJECT"],
                     [[str(r.id), r.address, r.usage, str(r.not_after.date()), r.fingerprint[:16], r.key_location,
                       r.subject] for r in records]))


def _select(ks: KeyStore, target: str) -> list[IdentityRecord]:
    """The identities ``target`` names, as `keys remove` reads it: an id (digits), else an address."""
    records = [r for r in ks.list() if r.id == int(target)] if target.isdigit() else ks.list(target)
    if not records:
        raise UsageError(f"no identity matches {target} (mailseal keys list shows ids and addresses)")
    return records


@keys_group.command("show")
@click.argument("target", metavar="ID|ADDRESS")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show_cmd(target: str, as_json: bool) -> None:
    """Show one identity by id, or every identity of an address."""
    records = _select(keystore(), target)
    if as_json:
        print_json({"identities": [r.to_dict() for r in records]})
        return
    for r in records:
        for key, value in r.to_dict().items():
            click.echo(f"{key}: {value}")
        click.echo("")


@keys_group.command("remove")
@click.argument("target", metavar="ID|ADDRESS")
@handle_errors
def remove_cmd(target: str) -> None:
    """Remove one identity by id, or every identity of an address."""
    count = keystore().remove(target)
    click.echo(f"removed {count} identit{'y' if count == 1 else 'ies'}")


@keys_group.command("export")
@click.argument("target", metavar="ID|ADDRESS")
@click.option("--pass", "pass_spec", metavar="SPEC", help="Password for the PKCS#12 file (required).")
@click.option("-o", "--out", "outfile", metavar="FILE", help="Write the PKCS#12 file here (default: stdout).")
@handle_errors
def export_cmd(target: str, pass_spec: str, outfile: str | None) -> None:
    """Export an identity, by id or by an address that has one, as PKCS#12 (0600; refused unless
    MAILSEAL_ALLOW_KEY_EXPORT=1)."""
    import os

    if os.environ.get(EXPORT_ENV) != "1":
        raise UsageError(f"key export is disabled: set {EXPORT_ENV}=1 to allow it")
    if pass_spec is None:
        raise UsageError("--pass is required: the exported PKCS#12 file is protected by a password")
    ks = keystore()
    records = _select(ks, target)
    if len(records) > 1:
        ids = ", ".join(str(r.id) for r in records)
        raise UsageError(f"{target} has {len(records)} identities (ids {ids}): give the id of the one to export")
    data = ks.export_pkcs12(records[0].id, password(pass_spec) or b"")
    write_out(outfile, data, private=True)


if __name__ == "__main__":  # pragma: no cover - `python -m mailseal.cli.keys` until main.py registers the group
    keys_group(prog_name="mailseal keys")

"""`mailseal certs publish`: the organisation's certificates for senders outside, as DNS SMIMEA (RFC 8162), LDIF,
PEM or PKCS#7 (docs/publishing.md). The choosing and the formats are in ``store.publishing``; this is the edge."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from .common import EXIT_NOT_VALID, handle_errors, parse_time, print_json, write_out
from .terminal import quiet_requested

if TYPE_CHECKING:
    from ..store.lookup import Source
    from ..store.publishing import PublishingSummary, Selection

FORMATS = ("smimea", "ldif", "pem", "p7b")


def _is_ours(settings: dict[str, Any]) -> Callable[[str], bool] | None:
    """``Policy.is_internal`` of the settings' accepted domains; None when none are configured."""
    from ..policy.engine import Policy

    policy = Policy.from_settings(settings)
    return policy.is_internal if policy.accepted_domains else None


def _check_sources(settings: dict[str, Any]) -> list[Source]:
    """The LDAP and SMIMEA servers of `[lookup]`, to ask whether they serve what is published."""
    from ..store.lookup_settings import lookup_sources

    sources = [s for s in lookup_sources(settings)[0] if not isinstance(s, str)]
    if not sources:
        raise UsageError("--check asks the LDAP and SMIMEA servers of [lookup] in the settings file, and its order "
                         "names none")
    return sources


def _notes(selection: Selection) -> None:
    if quiet_requested():
        return
    for skipped in selection.skipped:
        click.echo(f"mailseal: note: {skipped.note()}", err=True)


def _zone_domains(selection: Selection, domains: tuple[str, ...]) -> list[str]:
    """The zones to write: the domains asked for, else every domain with a published certificate."""
    return [d.strip().rstrip(".").lower() for d in domains] or list(selection.domains)


@click.command("publish")
@click.option("--smimea", is_flag=True, help="DNS SMIMEA records (RFC 8162): a zone-file fragment for one domain.")
@click.option("--ldif", "as_ldif", is_flag=True, help="inetOrgPerson entries for an LDAP directory (needs --base-dn).")
@click.option("--pem", is_flag=True, help="A PEM bundle of the certificates.")
@click.option("--p7b", is_flag=True, help="A PKCS#7 certs-only bundle (DER, as a Windows .p7b).")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help="Only addresses at DOMAIN (repeatable). --smimea writes one domain's zone at a time.")
@click.option("-o", "--out", "outfile", metavar="FILE", help="Write here (default: stdout).")
@click.option("--out-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="With --smimea: one file per domain, DIR/DOMAIN.smimea.zone.")
@click.option("--usage", "usage", type=click.IntRange(0, 3), default=3, show_default=True,
              help="SMIMEA certificate usage (RFC 6698 §2.1.1; 3 = DANE-EE).")
@click.option("--selector", type=click.IntRange(0, 1), default=0, show_default=True,
              help="SMIMEA selector: 0 full certificate, 1 SubjectPublicKeyInfo.")
@click.option("--matching-type", type=click.IntRange(0, 2), default=0, show_default=True,
              help="SMIMEA matching type: 0 exact, 1 SHA-256, 2 SHA-512.")
@click.option("--ttl", type=int, metavar="SECONDS", help="TTL written on each SMIMEA record (default: the zone's).")
@click.option("--generic", is_flag=True, help="RFC 3597 TYPE53 syntax for DNS servers that do not know SMIMEA.")
@click.option("--base-dn", metavar="DN", help="With --ldif: the entries' parent, e.g. ou=people,dc=example,dc=org.")
@click.option("--smime-bundle", is_flag=True,
              help="With --ldif: also userSMIMECertificate (the certificate with its chain, PKCS#7).")
@click.option("--chain", is_flag=True, help="With --pem/--p7b: add the issuing certificates known for them.")
@click.option("--config", type=click.Path(dir_okay=False, exists=True),
              help="Settings file with [gateway].accepted_domains (default: the usual one).")
@click.option("--at", "at", metavar="ISO-8601", help="Judge validity at this time instead of now.")
@click.option("--check", is_flag=True,
              help="Without a format: ask the [lookup] LDAP and SMIMEA servers whether they serve each certificate "
                   "(exit 1 when one does not).")
@click.option("--json", "as_json", is_flag=True, help="Without a format: the summary as JSON.")
@handle_errors
def publish_cmd(smimea: bool, as_ldif: bool, pem: bool, p7b: bool, domains: tuple[str, ...], outfile: str | None,
                out_dir: str | None, usage: int, selector: int, matching_type: int, ttl: int | None, generic: bool,
                base_dn: str | None, smime_bundle: bool, chain: bool, config: str | None, at: str | None,
                check: bool, as_json: bool) -> None:
    """Export the organisation's own certificates (key store identities, certificates the internal CA issued,
    directory entries imported at accepted domains) for senders outside. Expired, revoked and unsuitable
    certificates are left out with a note on stderr. Without a format: what would be published where, and with
    --check whether the directory and DNS servers of [lookup] serve it."""
    from ..store import publishing
    from .policy import open_store_read_only, read_settings

    chosen = [name for name, on in zip(FORMATS, (smimea, as_ldif, pem, p7b), strict=True) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one format: --{' and --'.join(chosen)} were given")
    fmt = chosen[0] if chosen else None
    if out_dir is not None and fmt != "smimea":
        raise UsageError("--out-dir goes with --smimea (one zone file per domain)")
    if out_dir is not None and outfile is not None:
        raise UsageError("give -o FILE or --out-dir DIR, not both")
    if (base_dn is not None or smime_bundle) and fmt not in ("ldif", None):
        raise UsageError("--base-dn and --smime-bundle go with --ldif")
    if fmt == "ldif" and base_dn is None:
        raise UsageError("--ldif needs --base-dn (the entries' parent, e.g. ou=people,dc=example,dc=org)")
    if chain and fmt not in ("pem", "p7b"):
        raise UsageError("--chain goes with --pem or --p7b")
    if (check or as_json) and fmt is not None:
        raise UsageError("--check and --json go with the summary (no format option)")
    params = publishing.SmimeaParameters(usage, selector, matching_type)
    settings = read_settings(config)
    sources = _check_sources(settings) if check else []

    store = open_store_read_only()
    try:
        summary = publishing.published(store, is_ours=_is_ours(settings), at=parse_time(at), domains=domains,
                                       params=params, base_dn=base_dn, check=sources)
    finally:
        if store is not None:
            store.close()
    selection = summary.selection
    if fmt is None:
        _print_summary(summary, as_json)
        if summary.missing:
            sys.exit(EXIT_NOT_VALID)
        return
    _notes(selection)
    if fmt == "smimea":
        zones = _zone_domains(selection, domains)
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            for domain in zones:
                target = Path(out_dir) / f"{domain}.smimea.zone"
                write_out(str(target), publishing.smimea_zone(selection, domain, params=params, ttl=ttl,
                                                              generic=generic).encode())
                if not quiet_requested():
                    click.echo(f"mailseal: wrote {target}", err=True)
            return
        if len(zones) != 1:
            raise UsageError("certificates of several domains are published "
                             f"({', '.join(zones) or 'none'}): give --domain (one zone at a time) or --out-dir")
        data = publishing.smimea_zone(selection, zones[0], params=params, ttl=ttl, generic=generic).encode()
    elif fmt == "ldif":
        assert base_dn is not None
        data = publishing.ldif(selection, base_dn, smime_bundle=smime_bundle).encode()
    elif fmt == "pem":
        data = publishing.pem_bundle(selection, chain=chain).encode()
    else:
        data = publishing.p7b_bundle(selection, chain=chain)
    write_out(outfile, data)


def _print_summary(summary: PublishingSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_dict())
        return
    from .render import table

    view = summary.to_dict()
    checked = bool(summary.checks)
    rows = [[c["address"], c["fingerprint_sha256"][:16], c["not_after"][:10], ",".join(c["origins"]),
             c["published"]["smimea"]["owner"],
             *([", ".join(f"{name}: {f['status']}" for name, f in c["found"].items())] if checked else [])]
            for c in view["certificates"]]
    if rows:
        click.echo(table(["ADDRESS", "FINGERPRINT", "NOT AFTER", "FROM", "SMIMEA OWNER NAME",
                          *(["FOUND"] if checked else [])], rows))
    else:
        click.echo("no certificate to publish")
    for skipped in summary.selection.skipped:
        click.echo(f"not published: {skipped.note()}")
    for miss in summary.missing:
        click.echo(f"{miss.status}: {miss.address} ({miss.fingerprint[:16]}) in {miss.source}"
                   f"{f': {miss.detail}' if miss.detail else ''}")

__all__ = ["publish_cmd"]

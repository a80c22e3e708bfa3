"""The `mailseal certs` command group: S/MIME profile check (RFC 8550, S/MIME BR) and a readable certificate view."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from ..cms.identity import fingerprint, load_certificates
from ..cms.names import name_text, serial_text
from ..errors import CertificateError
from ..pki.profile import ProfileVerdict, certificate_emails, check_certificate, describe_key
from .common import EXIT_NOT_VALID, handle_errors, parse_time, print_json

_KU_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_EKU_NAMES = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_POLICY_NAMES = {
    "2.23.140.1.5.1.1": "S/MIME BR mailbox-validated legacy",
    "2.23.140.1.5.1.2": "S/MIME BR mailbox-validated multipurpose",
    "2.23.140.1.5.1.3": "S/MIME BR mailbox-validated strict",
    "2.5.29.32.0": "anyPolicy",
}


def _name(name: x509.Name) -> str:
    return name_text(name)


def _load(path: str) -> list[x509.Certificate]:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return load_certificates(data)
    except CertificateError:
        raise
    except ValueError as exc:
        raise CertificateError(f"{path}: not a certificate: {exc}") from None


def _ext(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(cert: x509.Certificate) -> list[str] | None:
    ku = _ext(cert, x509.KeyUsage)
    if ku is None:
        return None
    names = [name for attr, name in _KU_NAMES if getattr(ku, attr)]
    if ku.key_agreement:
        names += [n for attr, n in (("encipher_only", "encipherOnly"), ("decipher_only", "decipherOnly"))
                  if getattr(ku, attr)]
    return names


def describe(cert: x509.Certificate, at: datetime | None = None) -> dict[str, Any]:
    """The facts `certs inspect` shows, as a JSON-ready dict."""
    moment = at or datetime.now(UTC)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    policies = _ext(cert, x509.CertificatePolicies)
    basic = _ext(cert, x509.BasicConstraints)
    ski = _ext(cert, x509.SubjectKeyIdentifier)
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    cdp = _ext(cert, x509.CRLDistributionPoints)
    aia = _ext(cert, x509.AuthorityInformationAccess)
    if moment > cert.not_valid_after_utc:
        validity = "expired"
    elif moment < cert.not_valid_before_utc:
        validity = "not-yet-valid"
    else:
        validity = "current"
    verdict = check_certificate(cert, at=moment)
    return {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "serial": serial_text(cert.serial_number),
        "addresses": certificate_emails(cert),
        "key": describe_key(cert),
        "signature_algorithm": cert.signature_algorithm_oid._name,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "validity": validity,
        "ca": bool(basic and basic.ca),
        "key_usage": _key_usage(cert),
        "extended_key_usage": None if eku is None else [_EKU_NAMES.get(o, o.dotted_string) for o in eku],
        "policies": [] if policies is None else [
            {"oid": p.policy_identifier.dotted_string, "name": _POLICY_NAMES.get(p.policy_identifier.dotted_string)}
            for p in policies
        ],
        "subject_key_identifier": ski.digest.hex() if ski else None,
        "authority_key_identifier": aki.key_identifier.hex() if aki and aki.key_identifier else None,
        "crl_urls": [] if cdp is None else [n.value for dp in cdp for n in (dp.full_name or [])
                                            if isinstance(n, x509.UniformResourceIdentifier)],
        "ocsp_urls": [] if aia is None else [d.access_location.value for d in aia
                                             if d.access_method == AuthorityInformationAccessOID.OCSP],
        "fingerprint_sha256": fingerprint(cert),
        "fingerprint_sha1": cert.fingerprint(hashes.SHA1()).hex(),
        "smime": {"can_sign": verdict.can_sign, "can_encrypt": verdict.can_encrypt},
    }


@click.group("certs")
def certs_group() -> None:
    """Look at certificates: S/MIME suitability (`check`) and a readable view (`inspect`)."""


def _yes_no(can: bool, reasons: list[str]) -> str:
    return "yes" if can else "no: " + "; ".join(reasons)


@certs_group.command("check")
@click.argument("file", metavar="FILE")
@click.option("--email", metavar="ADDR", help="The address the certificate should serve.")
@click.option("--at", "at", metavar="ISO-8601", help="Judge the validity period at this time instead of now.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@handle_errors
def check_cmd(file: str, email: str | None, at: str | None, as_json: bool) -> None:
    """Can the certificate in FILE sign, and receive encrypted mail, for ADDR? Exit 0 if either, 1 if neither.

    Checks the S/MIME profile (RFC 8550, S/MIME BR): address, EKU, key usage, key size and curve, validity.
    The chain and revocation are not checked here (`mailseal verify` does that).
    """
    cert = _load(file)[0]
    verdict: ProfileVerdict = check_certificate(cert, email, parse_time(at))
    if as_json:
        print_json({"subject": _name(cert.subject), "serial": serial_text(cert.serial_number),
                    "email": email, **verdict.to_dict()})
    else:
        click.echo(f"certificate: {_name(cert.subject) or '(empty subject)'} "
                   f"(serial {serial_text(cert.serial_number)})")
        click.echo(f"addresses: {', '.join(verdict.addresses) or '(none)'}")
        if email is not None:
            click.echo(f"address {email}: {'matches' if verdict.address_matches else 'does not match'}")
        click.echo(f"sign: {_yes_no(verdict.can_sign, verdict.reasons_sign)}")
        click.echo(f"encrypt: {_yes_no(verdict.can_encrypt, verdict.reasons_encrypt)}")
    if not (verdict.can_sign or verdict.can_encrypt):
        sys.exit(EXIT_NOT_VALID)


@certs_group.command("inspect")
@click.argument("file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def inspect_cmd(file: str, as_json: bool) -> None:
    """Show every certificate in FILE (PEM, DER or PKCS#7): subject, addresses, key, usages, validity, policies.

    Revocation is not looked up here; `mailseal verify --revocation` checks it for a signer.
    """
    views = [describe(c) for c in _load(file)]
    if as_json:
        print_json({"certificates": views})
        return
    for n, view in enumerate(views):
        if n:
            click.echo("")
        _print_view(view)


def _print_view(v: dict[str, Any]) -> None:
    def line(label: str, value: object) -> None:
        click.echo(f"{label + ':':<22} {value}")

    line("subject", v["subject"] or "(empty)")
    line("addresses", ", ".join(v["addresses"]) or "(none)")
    line("issuer", v["issuer"])
    line("serial", v["serial"])
    line("key", v["key"])
    line("signature algorithm", v["signature_algorithm"])
    line("validity", f"{v['not_before']} .. {v['not_after']} ({v['validity']})")
    line("CA", "yes" if v["ca"] else "no")
    line("key usage", "(no extension)" if v["key_usage"] is None else ", ".join(v["key_usage"]) or "(none)")
    eku = v["extended_key_usage"]
    line("extended key usage", "(no extension: any)" if eku is None else ", ".join(eku))
    pols = [f"{p['oid']} ({p['name']})" if p["name"] else p["oid"] for p in v["policies"]]
    line("policies", ", ".join(pols) or "(none)")
    if v["crl_urls"]:
        line("CRL", ", ".join(v["crl_urls"]))
    if v["ocsp_urls"]:
        line("OCSP", ", ".join(v["ocsp_urls"]))
    line("subject key id", v["subject_key_identifier"] or "(none)")
    line("authority key id", v["authority_key_identifier"] or "(none)")
    line("SHA-256 fingerprint", v["fingerprint_sha256"])
    line("SHA-1 fingerprint", v["fingerprint_sha1"])
    line("S/MIME", f"sign: {'yes' if v['smime']['can_sign'] else 'no'}; "
                   f"encrypt: {'yes' if v['smime']['can_encrypt'] else 'no'} (details: mailseal certs check)")
    line("revocation", "not checked here")


EXIT_EXPIRING = 1  # something ends within the window (docs/monitoring.md): a cron job's cue to alert
EXPIRY_KINDS = ("ca", "crl", "issued", "identity", "directory", "anchor", "intermediate")


def _open_store_quietly() -> Any:
    """The store without creating one (None when the data directory has none)."""
    from .policy import open_store_read_only

    return open_store_read_only()


@certs_group.command("expiring")
@click.option("--within", "within", metavar="AGE", default="30d", show_default=True,
              help="The window: 30d, 12h, 2w (a bare number is days).")
@click.option("--days", type=click.IntRange(min=0), hidden=True, help="Same as --within Nd (older form).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(EXPIRY_KINDS),
              help="Only these kinds (repeatable; default: all).")
@click.option("--all", "show_all", is_flag=True, help="Also list superseded certificates (renewed: never counted).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def expiring_cmd(within: str, days: int | None, kinds: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """What ends within the window, soonest first (already ended included): the CA certificate and its CRL's next
    update, certificates the CA issued, the key store's identities, correspondents' certificates and the trust
    anchors and intermediates. Exit 1 when something does, 0 when nothing does (for cron)."""
    from datetime import timedelta

    from ..store.expiry import collect, needing_attention
    from .timespec import parse_duration

    window = timedelta(days=days) if days is not None else parse_duration(within, "--within")
    now = datetime.now(UTC)
    store = _open_store_quietly()
    try:
        items = collect(store, within=window, at=now, kinds=kinds or EXPIRY_KINDS)
    finally:
        if store is not None:
            store.close()
    counted = needing_attention(items)
    shown = items if show_all else counted
    if as_json:
        print_json({"within_days": round(window.total_seconds() / 86400, 3), "at": now.isoformat().replace("+00:00", "Z"),
                    "expiring": len(counted), "items": [i.to_dict(now) for i in shown]})
    elif not shown:
        click.echo(f"nothing ends within {within if days is None else f'{days}d'}")
    else:
        from .render import table

        rows = [[i.kind, i.name, i.serial, i.not_after.strftime("%Y-%m-%d %H:%MZ"),
                 "ended" if i.not_after <= now else str(i.days_left(now)),
                 f"{i.where}{' (superseded)' if i.superseded else ''}"] for i in shown]
        click.echo(table(["KIND", "NAME", "SERIAL", "NOT AFTER", "DAYS LEFT", "WHERE"], rows))
    if counted:
        sys.exit(EXIT_EXPIRING)


__all__ = ["certs_group", "describe"]


def _attach_directory_commands() -> None:
    """The certificate directory's commands (import, list, find, show, remove) and publishing (`certs publish`)
    live in the same group."""
    from .directory import DIRECTORY_COMMANDS
    from .publish import publish_cmd

    for command in (*DIRECTORY_COMMANDS, publish_cmd):
        certs_group.add_command(command)


_attach_directory_commands()

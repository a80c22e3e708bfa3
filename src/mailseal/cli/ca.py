"""The `mailseal ca` command group: an internal S/MIME CA (S/MIME BR strict profile), its CRLs and OCSP responder."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..cms.names import name_text, serial_text
from ..errors import UsageError
from ..pki.authority import (
    CA_KEY_TYPES,
    MAX_VALIDITY_DAYS,
    ML_KEM_KEY_TYPES,
    REASONS,
    USAGES,
    USER_KEY_TYPES,
    CAError,
    CertificateAuthority,
    default_directory,
    parse_serial,
)
from .common import handle_errors, password, print_json, write_out

PASSPHRASE_ENV = "MAILSEAL_CA_PASSPHRASE"


def _passphrase(confirm: bool = False) -> bytes:
    """The CA passphrase: ``$MAILSEAL_CA_PASSPHRASE``, else asked for without echo."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    from .terminal import read_secret

    secret = read_secret("CA passphrase: ")
    if secret is None:
        raise UsageError(f"no terminal to ask for the CA passphrase on: set {PASSPHRASE_ENV}")
    if not secret:
        raise UsageError("the CA passphrase must not be empty")
    if confirm and read_secret("Repeat the CA passphrase: ") != secret:
        raise UsageError("the two CA passphrases differ")
    return secret


def _open(unlock: bool) -> CertificateAuthority:
    """The CA, with its register in the store when one exists (docs/ca.md); open until the command ends."""
    from ..store.ca_register import open_authority

    directory = default_directory()
    if not CertificateAuthority.exists(directory):
        raise CAError(f"no CA in {directory}: run `mailseal ca init --name NAME` first (or set MAILSEAL_HOME)")
    return click.get_current_context().with_resource(open_authority(directory, _passphrase() if unlock else None))


@click.group("ca")
def ca_group() -> None:
    """An internal CA for S/MIME certificates, kept in $MAILSEAL_HOME/ca (see docs/ca.md)."""


@ca_group.command("init")
@click.option("--name", required=True, help="The CA's name (its certificate's commonName).")
@click.option("--key-type", type=click.Choice(CA_KEY_TYPES), default="rsa3072", show_default=True)
@click.option("--days", type=int, default=3650, show_default=True, help="Validity of the CA certificate.")
@click.option("--crl-url", metavar="URL", help="CRL distribution point written into issued certificates.")
@click.option("--ocsp-url", metavar="URL", help="OCSP responder URL (AIA) written into issued certificates.")
@handle_errors
def init_cmd(name: str, key_type: str, days: int, crl_url: str | None, ocsp_url: str | None) -> None:
    """Create the CA: key (encrypted with the passphrase) and self-signed certificate."""
    directory = default_directory()
    if CertificateAuthority.exists(directory):
        raise CAError(f"a CA already exists in {directory}")
    ca = CertificateAuthority.create(name, _passphrase(confirm=True), directory=directory, key_type=key_type,
                                     days=days, crl_url=crl_url, ocsp_url=ocsp_url)
    cert = ca.certificate
    click.echo(f"created CA {name!r} in {directory} ({key_type}, serial {serial_text(cert.serial_number)}, "
               f"valid until {cert.not_valid_after_utc.date().isoformat()})")


@ca_group.command("issue")
@click.option("--email", required=True, help="The mailbox address the certificate is for.")
@click.option("-o", "--out", "outfile", required=True, metavar="FILE", help="Write the user's PKCS#12 here.")
@click.option("--pass", "pass_spec", required=True, metavar="SPEC",
              help="PKCS#12 password: pass:TEXT, env:VAR or file:PATH.")
@click.option("--usage", type=click.Choice(USAGES), default=None,
              help="sign: signing only; encrypt: encryption only; dual: both in one certificate [default: encrypt "
                   "for an ML-KEM key, else sign].")
@click.option("--key-type", type=click.Choice(USER_KEY_TYPES), default="rsa3072", show_default=True)
@click.option("--days", type=int, default=365, show_default=True,
              help=f"Validity in days (at most {MAX_VALIDITY_DAYS}).")
@click.option("--no-cn", is_flag=True, help="Leave the commonName out of the subject (the address stays).")
@click.option("--legacy", is_flag=True, help="3DES/SHA-1 PKCS#12 (what gpgsm 2.2 and old NSS import).")
@click.option("--cert-out", metavar="FILE", help="Also write the certificate (PEM) here.")
@handle_errors
def issue_cmd(email: str, outfile: str, pass_spec: str, usage: str | None, key_type: str, days: int, no_cn: bool,
              legacy: bool, cert_out: str | None) -> None:
    """Issue a mailbox-validated S/MIME certificate with a new key; write key, certificate and CA as PKCS#12 (for
    an ML-DSA or ML-KEM key, which PKCS#12 writers cannot hold: a PEM file with the encrypted key and both
    certificates)."""
    if usage is None:
        usage = "encrypt" if key_type in ML_KEM_KEY_TYPES else "sign"
    p12_password = password(pass_spec)
    assert p12_password is not None
    # Checked before issuing, so a typo in a path never leaves a registered certificate whose key is lost.
    for target in (outfile, cert_out):
        if target and not (Path(target).parent.is_dir() and os.access(Path(target).parent, os.W_OK)):
            raise UsageError(f"cannot write {target}: its folder does not exist or is not writable")
    ca = _open(unlock=True)
    issued = ca.issue(email, usage=usage, key_type=key_type, days=days, common_name=not no_cn)
    write_out(outfile, ca.pkcs12(issued, p12_password, legacy=legacy), private=True)
    if cert_out:
        write_out(cert_out, issued.certificate.public_bytes(serialization.Encoding.PEM))
    record = issued.record
    click.echo(f"issued {serial_text(record.serial)} for {record.email} ({usage}, {key_type}, "
               f"until {record.not_after.date().isoformat()}) -> {outfile}")


@ca_group.command("export")
@click.option("-o", "--out", "outfile", metavar="FILE", help="Write here (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["pem", "der"]), default="pem", show_default=True)
@handle_errors
def export_cmd(outfile: str | None, fmt: str) -> None:
    """Write the CA certificate (the trust anchor to give to relying parties)."""
    ca = _open(unlock=False)
    encoding = serialization.Encoding.PEM if fmt == "pem" else serialization.Encoding.DER
    write_out(outfile, ca.certificate.public_bytes(encoding))


@ca_group.command("revoke")
@click.argument("serial", required=False, metavar="SERIAL|CERT_FILE")
@click.option("--email", help="Revoke every unrevoked certificate of this address.")
@click.option("--reason", type=click.Choice(list(REASONS)), default="unspecified", show_default=True)
@handle_errors
def revoke_cmd(serial: str | None, email: str | None, reason: str) -> None:
    """Revoke by SERIAL (hex, as `ca list` shows it), by the certificate's file (as `openssl ca -revoke`) or by
    --email; publish with `ca crl` or `ca ocsp`."""
    if (serial is None) == (email is None):
        raise UsageError("give either a SERIAL or --email, not both (a SERIAL may be the certificate's file)")
    ca = _open(unlock=False)
    if serial is not None and Path(serial).is_file():
        serials = [_serial_of_file(ca, Path(serial))]
    elif serial is not None:
        serials = [parse_serial(serial)]
    else:
        assert email is not None
        serials = [r.serial for r in ca.records(email) if r.revoked_at is None]
        if not serials:
            raise CAError(f"no unrevoked certificate for {email}")
    for number in serials:
        record = ca.revoke(number, reason)
        click.echo(f"revoked {serial_text(record.serial)} ({record.email}, {reason})")


def _serial_of_file(ca: CertificateAuthority, path: Path) -> int:
    """The serial of the certificate in `path`, which this CA must have issued."""
    from ..pki.truststore import read_certificates

    cert = read_certificates(path.read_bytes())[0]
    if cert.issuer != ca.certificate.subject:
        raise CAError(f"{path} was issued by {name_text(cert.issuer)}, not by this CA")
    return cert.serial_number


def _publish_target(target: str, crl_url: str | None) -> Path:
    """A folder gets the file the CRL URL names (``ca.crl`` without a URL); anything else is the file itself."""
    path = Path(target)
    if path.is_dir():
        from urllib.parse import urlsplit

        name = Path(urlsplit(crl_url).path).name if crl_url else ""
        return path / (name or "ca.crl")
    if not path.parent.is_dir():
        raise UsageError(f"cannot publish to {target}: its folder does not exist")
    return path


def _publish(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically: a web server serving it never sends half a CRL (RFC 5280 §5, RFC 2585 §3)."""
    from .streams import output_stream

    with output_stream(str(path)) as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())


@ca_group.command("crl")
@click.option("-o", "--out", "outfile", metavar="FILE", help="Write here (default: stdout, unless --publish).")
@click.option("--publish", metavar="DIR|FILE",
              help="Replace the CRL a web server serves, atomically: in a folder, under the file name of the CA's "
                   "CRL URL (ca.crl without one); DER unless --format pem.")
@click.option("--days", type=int, default=7, show_default=True, help="Days until the CRL's next update.")
@click.option("--format", "fmt", type=click.Choice(["pem", "der"]), default=None,
              help="[default: pem for -o and stdout, der for --publish]")
@handle_errors
def crl_cmd(outfile: str | None, publish: str | None, days: int, fmt: str | None) -> None:
    """Sign and write a CRL of every revoked certificate (RFC 5280 §5); run it from a timer (docs/monitoring.md)."""
    ca = _open(unlock=True)
    target = _publish_target(publish, ca.config.crl_url) if publish else None
    crl = ca.crl(days)
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    if target is not None:
        _publish(target, crl.public_bytes(pem if fmt == "pem" else der))
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        click.echo(f"published CRL {number} ({len(crl)} revoked, next update "
                   f"{crl.next_update_utc.isoformat() if crl.next_update_utc else '-'}) to {target}", err=True)
    if outfile is not None or target is None:
        write_out(outfile, crl.public_bytes(der if fmt == "der" else pem))


@ca_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def list_cmd(as_json: bool) -> None:
    """The certificates this CA issued, with their status."""
    ca = _open(unlock=False)
    records = ca.records()
    if as_json:
        print_json({"ca": name_text(ca.certificate.subject), "certificates": [r.to_dict() for r in records]})
        return
    if not records:
        click.echo("no certificates issued")
        return
    for r in records:
        extra = f" {r.revoked_at.isoformat()} {r.reason}" if r.revoked_at else ""
        click.echo(f"{serial_text(r.serial)}  {r.email}  {r.usage}  {r.key_type}  until {r.not_after.date().isoformat()}  "
                   f"{r.status()}{extra}")


@ca_group.command("ocsp")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (only this one).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port (0: any free port; the URL printed on stdout says which).")
@click.option("--delegated", is_flag=True,
              help="Sign with a short-lived delegated responder certificate (id-kp-OCSPSigning) instead of the CA key.")
@handle_errors
def ocsp_cmd(host: str, port: int, delegated: bool) -> None:
    """Answer OCSP requests (RFC 6960, HTTP GET and POST) from the CA's register until stopped (SIGTERM, Ctrl-C)."""
    from ..pki.ocsp_responder import OCSPServer, ca_signer, delegated_signer, serve

    ca = _open(unlock=True)
    signer = delegated_signer(ca) if delegated else ca_signer(ca)

    def ready(server: OCSPServer) -> None:
        bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        click.echo(f"http://{shown}:{bound_port}/")
        sys.stdout.flush()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve(ca, signer, host, port, ready)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


__all__ = ["ca_group"]

"""The commands that write protection: ``sign``, ``encrypt`` and ``decrypt``."""

from __future__ import annotations

import click

from .. import api
from ..cms.algorithms import CONTENT_CIPHERS, DEFAULT_CIPHER, SIGNING_DIGESTS
from ..pki.truststore import read_certificate_file
from .common import apply, handle_errors, io_options, key_options, load_identity, validation_context
from .streams import background, input_stream, is_staging, output_stream


@click.command("sign")
@apply(io_options + key_options)
@click.option("--chain", type=click.Path(dir_okay=False), help="Intermediate certificates to include.")
@click.option("--opaque", is_flag=True, help="Write application/pkcs7-mime signed-data instead of multipart/signed.")
@click.option("--digest", type=click.Choice(SIGNING_DIGESTS), default="sha256", show_default=True)
@click.option("--pss", is_flag=True, help="Use RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys).")
@click.option("--no-certs", is_flag=True, help="Do not include any certificate.")
@click.option("--no-chain", is_flag=True, help="Include the signer's certificate but not the chain.")
@handle_errors
def sign_cmd(
    infile: str | None, outfile: str | None, key: str, cert: str | None, pass_spec: str | None,
    chain: str | None, opaque: bool, digest: str, pss: bool, no_certs: bool, no_chain: bool,
) -> None:
    """Sign a message (RFC 5322 in, signed message out)."""
    identity = load_identity(key, cert, chain, pass_spec)
    with input_stream(infile) as source, output_stream(outfile) as sink, background(sink) as out:
        api.sign(
            source, identity, opaque=opaque, digest=digest, pss=pss,
            include_certs=not no_certs, include_chain=not no_chain, out=out,
        )


@click.command("encrypt")
@apply(io_options)
@click.option("--to", "recipients", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Recipient certificate (PEM, DER or PKCS#7); repeatable.")
@click.option("--cipher", type=click.Choice(list(CONTENT_CIPHERS)), default=DEFAULT_CIPHER, show_default=True)
@click.option("--oaep/--pkcs1v15", default=False, help="RSA key transport: RSAES-OAEP (SHA-256) or PKCS#1 v1.5.")
@click.option("--ski", is_flag=True, help="Name recipients by subjectKeyIdentifier instead of issuer and serial.")
@click.option("--sender-cert", type=click.Path(dir_okay=False), help="Also encrypt to this (the sender's) certificate.")
@click.option("--trust", "trust", multiple=True, type=click.Path(dir_okay=False),
              help="Check each recipient's chain to these roots (and revocation) before encrypting (repeatable).")
@click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False),
              help="A CRL to check recipients against (repeatable).")
@click.option("--revocation", type=click.Choice(["off", "soft", "hard"]), default="soft", show_default=True,
              help="With --trust: how an unknown revocation status of a recipient counts.")
@handle_errors
def encrypt_cmd(
    infile: str | None, outfile: str | None, recipients: tuple[str, ...], cipher: str, oaep: bool, ski: bool,
    sender_cert: str | None, trust: tuple[str, ...], crls: tuple[str, ...], revocation: str,
) -> None:
    """Encrypt a message for one or more recipients; unsuitable, expired or revoked recipients are refused."""
    certs = [c for path in recipients for c in read_certificate_file(path)]
    sender = read_certificate_file(sender_cert)[0] if sender_cert else None
    context = validation_context(trust, False, None, revocation=revocation, crls=crls) if trust else None
    with input_stream(infile) as source, output_stream(outfile) as sink, background(sink) as out:
        api.encrypt(
            source, certs, cipher=cipher, key_transport="oaep" if oaep else "pkcs1v15",
            recipient_id="ski" if ski else "issuer-serial", sender=sender, context=context, out=out,
        )


@click.command("decrypt")
@apply(io_options + key_options)
@handle_errors
def decrypt_cmd(infile: str | None, outfile: str | None, key: str, cert: str | None, pass_spec: str | None) -> None:
    """Decrypt a message (or a bare CMS object) with the recipient's key."""
    identity = load_identity(key, cert, None, pass_spec)
    with input_stream(infile) as source, output_stream(outfile) as sink:
        # A file output is a temporary file that replaces -o only on success, so it can stage the plaintext.
        api.decrypt(source, identity, out=sink, out_is_staging=is_staging(sink))

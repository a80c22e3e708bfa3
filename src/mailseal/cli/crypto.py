"""The commands that write protection: ``sign``, ``encrypt`` and ``decrypt``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .. import api
from ..cms.algorithms import CONTENT_CIPHERS, DEFAULT_CIPHER, SIGNING_DIGESTS
from ..errors import UsageError
from .common import apply, handle_errors, io_options, legacy_choice, load_identity, settings_limits, validation_context
from .streams import background, input_stream, is_staging, output_stream


@click.command("sign")
@apply(io_options)
@click.option("--key", type=click.Path(dir_okay=False),
              help="Private key: PEM/DER (PKCS#8, PKCS#1, SEC1) or a PKCS#12 file.")
@click.option("--cert", type=click.Path(dir_okay=False), help="The key's certificate (if not in --key).")
@click.option("--pass", "pass_spec", metavar="SPEC", help="Password: pass:TEXT, env:VAR or file:PATH.")
@click.option("--from", "sender", metavar="ADDR", help="Sign with ADDR's identity from the key store (instead of --key).")
@click.option("--chain", type=click.Path(dir_okay=False), help="Intermediate certificates to include.")
@click.option("--opaque", is_flag=True, help="Write application/pkcs7-mime signed-data instead of multipart/signed.")
@click.option("--digest", type=click.Choice(SIGNING_DIGESTS), default="sha256", show_default=True)
@click.option("--pss", is_flag=True, help="Use RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys).")
@click.option("--no-certs", is_flag=True, help="Do not include any certificate.")
@click.option("--no-chain", is_flag=True, help="Include the signer's certificate but not the chain.")
@click.option("--protect-headers", is_flag=True,
              help='Copy From, To, Cc, Subject, ... into the signed part, marked hp="clear" (RFC 9788).')
@click.option("--no-capabilities", is_flag=True,
              help="Leave out the SMIMECapabilities attribute (RFC 8551 §2.5.2 says it SHOULD be sent).")
@click.option("--to-be-encrypted", is_flag=True,
              help='With --protect-headers, for a message you encrypt next (encrypt --protect-headers): mark the '
                   'copies hp="cipher" and put "[...]" in the outer Subject (RFC 9788).')
@click.option("--allow-from-mismatch", is_flag=True,
              help="Sign even when a From address is not one of the certificate's (or there is no From); "
                   "readers will flag the signature (RFC 8550 §3).")
@handle_errors
def sign_cmd(
    infile: str | None, outfile: str | None, key: str | None, cert: str | None, pass_spec: str | None,
    sender: str | None, chain: str | None, opaque: bool, digest: str, pss: bool, no_certs: bool, no_chain: bool,
    protect_headers: bool, no_capabilities: bool, to_be_encrypted: bool, allow_from_mismatch: bool,
) -> None:
    """Sign a message (RFC 5322 in, signed message out) with --key or, with --from, the key store's identity.
    Its From addresses must be the certificate's, unless --allow-from-mismatch."""
    if (key is None) == (sender is None):
        raise UsageError("give either --key (a key file) or --from ADDR (an identity in the key store)")
    if to_be_encrypted and not protect_headers:
        raise UsageError("--to-be-encrypted changes how --protect-headers protects: give both")
    if key is not None:
        identity = load_identity(key, cert, chain, pass_spec)
    else:
        from .keys import keystore

        identity = keystore().identity_for(str(sender), "sign")
    with input_stream(infile) as source, output_stream(outfile) as sink, background(sink) as out:
        api.sign(
            source, identity, opaque=opaque, digest=digest, pss=pss,
            include_certs=not no_certs, include_chain=not no_chain, protect_headers=protect_headers,
            include_capabilities=not no_capabilities, to_be_encrypted=to_be_encrypted,
            allow_from_mismatch=allow_from_mismatch, out=out,
        )


@click.command("encrypt")
@apply(io_options)
@click.option("--to", "recipients", multiple=True, required=True, metavar="CERT|ADDR",
              help="Recipient: a certificate file (PEM, DER, PKCS#7, ...) or an address looked up in the "
                   "certificate directory; repeatable.")
@click.option("--cipher", type=click.Choice(list(CONTENT_CIPHERS)), default=None,
              help=f"Content cipher (default: the strongest every directory recipient advertised, else {DEFAULT_CIPHER}).")
@click.option("--oaep/--pkcs1v15", default=None,
              help="RSA key transport (default: OAEP when every directory recipient advertised it, else PKCS#1 v1.5).")
@click.option("--ski", is_flag=True, help="Name recipients by subjectKeyIdentifier instead of issuer and serial.")
@click.option("--sender-cert", type=click.Path(dir_okay=False), help="Also encrypt to this (the sender's) certificate.")
@click.option("--trust", "trust", multiple=True, type=click.Path(dir_okay=False),
              help="Check each recipient's chain to these roots (and revocation) before encrypting (repeatable).")
@click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False),
              help="A CRL to check recipients against (repeatable).")
@click.option("--revocation", type=click.Choice(["off", "soft", "hard"]), default="soft", show_default=True,
              help="With --trust: how an unknown revocation status of a recipient counts.")
@click.option("--protect-headers", is_flag=True,
              help='Copy From, To, Cc, Subject, ... into the encrypted part, marked hp="cipher", and send the '
                   'Subject as "[...]" (RFC 9788).')
@click.option("--post-quantum", type=click.Choice(["hybrid", "prefer_pq", "require_pq"]), default=None,
              help="For an ADDR with both a classical and an ML-KEM certificate: both (hybrid), only ML-KEM when "
                   "there is one (prefer_pq), only ML-KEM (require_pq) [default: [policy.smime] post_quantum of "
                   "the settings, else hybrid; docs/pq.md].")
@handle_errors
def encrypt_cmd(
    infile: str | None, outfile: str | None, recipients: tuple[str, ...], cipher: str | None, oaep: bool | None,
    ski: bool, sender_cert: str | None, trust: tuple[str, ...], crls: tuple[str, ...], revocation: str,
    protect_headers: bool, post_quantum: str | None,
) -> None:
    """Encrypt a message for one or more recipients; unsuitable, expired or revoked recipients are refused."""
    from ..pki.truststore import read_certificate_file  # for encrypt only: sign and decrypt read no certificate files
    from ..store.capabilities import choose_algorithms

    context = validation_context(trust, False, None, revocation=revocation, crls=crls) if trust else None
    files = [r for r in recipients if Path(r).exists() or "@" not in r]
    addresses = [r for r in recipients if r not in files]
    certs = [c for path in files for c in read_certificate_file(path)]
    # Certificates given as files advertise no capabilities: they do not narrow the cipher, and OAEP needs every
    # recipient to have advertised it.
    capabilities: list[tuple[str, ...] | None] = [None] * len(certs)
    if addresses:
        from ..config import load_settings
        from ..store.database import Store
        from ..store.directory import Directory
        from ..store.keystore import KeyStore
        from ..store.lookup_settings import lookup_from_settings
        from ..store.resolution import resolve_recipients

        store = Store.open()
        directory = Directory(store)
        settings = load_settings()
        lookup = lookup_from_settings(directory, settings, context)
        mode = post_quantum or _post_quantum_setting(settings)
        resolved = resolve_recipients(addresses, directory, lookup=lookup, keys=KeyStore(store), post_quantum=mode)
        for r in resolved:
            certs += r.all_certificates
            # Both certificates of one correspondent share what that correspondent advertised.
            capabilities += [r.capabilities] * len(r.all_certificates)
    chosen_cipher, chosen_transport = choose_algorithms(capabilities)
    cipher = cipher or chosen_cipher
    transport = chosen_transport if oaep is None else ("oaep" if oaep else "pkcs1v15")
    sender = read_certificate_file(sender_cert)[0] if sender_cert else None
    with input_stream(infile) as source, output_stream(outfile) as sink, background(sink) as out:
        api.encrypt(
            source, certs, cipher=cipher, key_transport="oaep" if transport == "oaep" else "pkcs1v15",
            recipient_id="ski" if ski else "issuer-serial", sender=sender, context=context,
            protect_headers=protect_headers, out=out,
        )


def _post_quantum_setting(settings: Mapping[str, Any]) -> str:
    """[policy.smime] post_quantum of the settings file (checked as the gateway checks it), else hybrid."""
    from ..policy.smime import SmimeSettings

    policy = settings.get("policy")
    table = policy.get("smime") if isinstance(policy, Mapping) else None
    return SmimeSettings.parse(table).post_quantum if table is not None else "hybrid"


@click.command("decrypt")
@apply(io_options)
@click.option("--key", type=click.Path(dir_okay=False),
              help="Private key: PEM/DER (PKCS#8, PKCS#1, SEC1), a PKCS#12 file or a PKCS#11 URI [default: the "
                   "key store's identity the message is encrypted for].")
@click.option("--cert", type=click.Path(dir_okay=False), help="The key's certificate (if not in --key).")
@click.option("--pass", "pass_spec", metavar="SPEC", help="Password: pass:TEXT, env:VAR or file:PATH.")
@click.option("--as", "as_address", metavar="ADDR",
              help="Decrypt with ADDR's identity from the key store (it must be a recipient of the message).")
@click.option("--allow-legacy", "allow_legacy", metavar="NAMES",
              help="Accept legacy algorithms, for archives: rc2 (128-bit) among dsa, sha1, rsa1024, 3des, rc2 "
                   "(default: none, or [verification] allow_legacy).")
@handle_errors
def decrypt_cmd(infile: str | None, outfile: str | None, key: str | None, cert: str | None, pass_spec: str | None,
                as_address: str | None, allow_legacy: str | None) -> None:
    """Decrypt a message (or a bare CMS object) with --key or, without it, with the key store's identity that
    the message is encrypted for (only that key is unsealed; a notice on stderr names it)."""
    if key is not None and as_address is not None:
        raise UsageError("give either --key (a key file) or --as ADDR (an identity in the key store)")
    legacy = legacy_choice(allow_legacy)
    if key is None:
        if cert is not None or pass_spec is not None:
            raise UsageError("--cert and --pass belong to --key: identities in the key store need neither")
        _decrypt_with_store(infile, outfile, as_address, legacy)
        return
    identity = load_identity(key, cert, None, pass_spec)
    with input_stream(infile) as source, output_stream(outfile, private=True) as sink:
        # A file output is a temporary file that replaces -o only on success, so it can stage the plaintext.
        api.decrypt(source, identity, out=sink, out_is_staging=is_staging(sink), limits=settings_limits(),
                    allow_legacy=legacy)


def _decrypt_with_store(infile: str | None, outfile: str | None, as_address: str | None,
                        legacy: frozenset[str]) -> None:
    """``decrypt`` without --key: the library's decrypt takes a key, so the store's chooser goes to the message
    layer beneath it, which asks it for the key once it has read whom the message is encrypted for."""
    from ..mime.opening import decrypt_message
    from .storekeys import notice, store_keys

    chooser = store_keys(as_address)
    with input_stream(infile) as source, output_stream(outfile, private=True) as sink:
        decrypt_message(source, chooser, sink, out_is_staging=is_staging(sink), limits=settings_limits(),
                        allow_legacy=legacy)
    notice(chooser)

"""SoftHSM2 helpers for the token tests: making the token's keys and certificates, opening its identities.

This directory has no ``__init__.py`` on purpose: as a package named ``pkcs11`` it would hide python-pkcs11.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailseal.cms.identity import Identity
from mailseal.cms.token import PIN_ENV, TokenURI
from tests.support.testpki import TestPKI

__all__ = ["EC_ID", "HSM", "IMPORTED_ID", "PIN", "PIN_TOKEN", "RSA_ID", "TOKEN", "admin_session", "make_hsm"]

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/local/lib/softhsm/libsofthsm2.so")
TOKEN = "mailseal-test"
PIN_TOKEN = "mailseal-pin"  # nobody logs in to it, so a wrong PIN is really checked by the token
PIN = "4711-test"
SO_PIN = "9876-so"
RSA_ID, EC_ID, IMPORTED_ID = b"\x01\xa1", b"\x02\xb2", b"\x03\xc3"


def _unavailable(reason: str) -> None:
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"SoftHSM2 required (MAILSEAL_REQUIRE_PEERS=1) but unavailable: {reason}")
    pytest.skip(f"SoftHSM2 unavailable: {reason}")


@dataclass(frozen=True)
class HSM:
    """The token and what was made on it; ``uri(...)`` builds a PKCS#11 URI with the module path."""

    module: str
    conf: Path
    rsa_cert: x509.Certificate  # also stored on the token, with the key's id
    ec_cert: x509.Certificate  # only in a file: the EC identity is opened with --cert
    imported_cert: x509.Certificate
    imported_key: rsa.RSAPrivateKey  # generated here, then imported as sensitive and not extractable
    rsa_cert_path: Path
    ec_cert_path: Path
    chain_path: Path
    pki: TestPKI

    def uri(self, *, key_id: bytes | None = None, label: str | None = None, token: str = TOKEN) -> str:
        return str(TokenURI(token=token, id=key_id, object=label, module=self.module))

    def identity(self, which: str) -> Identity:
        chain = self.chain_path.read_bytes()
        if which == "rsa":
            return Identity.from_token(self.uri(key_id=RSA_ID), chain=chain)
        if which == "ec":
            return Identity.from_token(self.uri(label="ec"), self.ec_cert_path.read_bytes(), chain)
        return Identity.from_token(self.uri(key_id=IMPORTED_ID),
                                   self.imported_cert.public_bytes(serialization.Encoding.PEM), chain)


def _issue(pki: TestPKI, name: str, public: Any, usage: str) -> x509.Certificate:
    """An end-entity certificate for a key the test PKI did not make (its user() makes its own keys)."""
    now = datetime.now(UTC)
    issuer_key = pki.intermediate_key
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=usage == "rsa",
                       data_encipherment=False, key_agreement=usage == "ec", key_cert_sign=False, crl_sign=False,
                       encipher_only=False, decipher_only=False)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailseal tests")]))
        .issuer_name(pki.intermediate_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ku, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(f"{name}@example.org")]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def _populate(module: str, pki: TestPKI, directory: Path) -> HSM:
    from pkcs11.util.ec import encode_named_curve_parameters

    import pkcs11
    from mailseal.cms.token import _library
    from pkcs11 import Attribute, KeyType, ObjectClass

    private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
               Attribute.DECRYPT: True, Attribute.TOKEN: True, Attribute.PRIVATE: True}
    token = _library(module).get_token(token_label=TOKEN)
    # The session is closed before the tests run: PKCS#11 logs out when an application's last session closes, so
    # mailseal's own login is the only one.
    with token.open(rw=True, user_pin=PIN) as session:
        rsa_pub, _ = session.generate_keypair(KeyType.RSA, 2048, id=RSA_ID, label="rsa", store=True,
                                              private_template=private)
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
        ec_template = {k: v for k, v in private.items() if k != Attribute.DECRYPT} | {Attribute.DERIVE: True}
        ec_pub, _ = params.generate_keypair(store=True, id=EC_ID, label="ec", private_template=ec_template)
        from pkcs11.util.ec import encode_ec_public_key
        from pkcs11.util.rsa import encode_rsa_public_key

        rsa_public = serialization.load_der_public_key(_spki_rsa(encode_rsa_public_key(rsa_pub)))
        ec_public = serialization.load_der_public_key(encode_ec_public_key(ec_pub))
        assert isinstance(ec_public, ec.EllipticCurvePublicKey)
        rsa_cert = _issue(pki, "hsm-rsa", rsa_public, "rsa")
        ec_cert = _issue(pki, "hsm-ec", ec_public, "ec")
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
            Attribute.TOKEN: True, Attribute.ID: RSA_ID, Attribute.LABEL: "rsa",
            Attribute.SUBJECT: rsa_cert.subject.public_bytes(), Attribute.VALUE: rsa_cert.public_bytes(
                serialization.Encoding.DER)})
        imported_key = rsa.generate_private_key(65537, 2048)
        n = imported_key.private_numbers()
        session.create_object({
            Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.RSA, Attribute.ID: IMPORTED_ID,
            Attribute.LABEL: "imported", **private,
            Attribute.MODULUS: _int(n.public_numbers.n), Attribute.PUBLIC_EXPONENT: _int(n.public_numbers.e),
            Attribute.PRIVATE_EXPONENT: _int(n.d), Attribute.PRIME_1: _int(n.p), Attribute.PRIME_2: _int(n.q),
            Attribute.EXPONENT_1: _int(n.dmp1), Attribute.EXPONENT_2: _int(n.dmq1),
            Attribute.COEFFICIENT: _int(n.iqmp)})
        imported_cert = _issue(pki, "hsm-imported", imported_key.public_key(), "rsa")
    rsa_cert_path = directory / "hsm-rsa.pem"
    rsa_cert_path.write_bytes(rsa_cert.public_bytes(serialization.Encoding.PEM))
    ec_cert_path = directory / "hsm-ec.pem"
    ec_cert_path.write_bytes(ec_cert.public_bytes(serialization.Encoding.PEM))
    return HSM(module, directory / "softhsm2.conf", rsa_cert, ec_cert, imported_cert, imported_key, rsa_cert_path,
               ec_cert_path, Path(pki.directory / "hsm-chain.pem"), pki)


def _int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _spki_rsa(pkcs1: bytes) -> bytes:
    from asn1crypto import keys

    return bytes(keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"},
                                     "public_key": keys.RSAPublicKey.load(pkcs1)}).dump())


@contextmanager
def admin_session(module: str, label: str = TOKEN, rw: bool = False) -> Iterator[Any]:
    """A logged-in python-pkcs11 session on the token (sharing the process's login if mailseal made it)."""
    import pkcs11
    from mailseal.cms.token import _library

    token = _library(module).get_token(token_label=label)
    try:
        session = token.open(rw=rw, user_pin=PIN)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        session = token.open(rw=rw)
    with session:
        yield session


def make_hsm(pki: TestPKI, directory: Path) -> HSM:
    """Two fresh tokens in ``directory``; sets ``$SOFTHSM2_CONF`` and ``$MAILSEAL_PKCS11_PIN`` for the process."""
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULE_CANDIDATES if Path(m).exists()), None)
    if util is None or module is None:
        _unavailable("softhsm2-util or libsofthsm2.so not found (Debian package softhsm2)")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        _unavailable("python-pkcs11 is not installed")
    assert util is not None and module is not None
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ[PIN_ENV] = PIN
    for label in (TOKEN, PIN_TOKEN):
        subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
                       check=True, capture_output=True, timeout=60)
    pki.directory.joinpath("hsm-chain.pem").write_bytes(pki.intermediate_cert.public_bytes(serialization.Encoding.PEM))
    return _populate(module, pki, directory)

"""A throw-away test PKI (root, intermediate, end users) generated at test time with pyca cryptography.

Nothing here is committed: every run makes fresh keys and certificates that cannot expire under the tests.

    pki = TestPKI(tmp_dir)
    alice = pki.user("alice")                       # RSA 2048, alice@example.org, signed by the intermediate
    bob = pki.user("bob", "ec-p256")                # ECDSA / ECDH user
    old = pki.user("old", not_after=past)           # expired certificate

`user()` caches on all its arguments, so tests may call it freely.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, mlkem, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = ["KEY_TYPES", "PASSWORD", "CAKey", "PrivateKey", "TestPKI", "User"]

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | x25519.X25519PrivateKey
    | x448.X448PrivateKey
    | mlkem.MLKEM768PrivateKey
    | mlkem.MLKEM1024PrivateKey
    | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey
    | mldsa.MLDSA87PrivateKey
)
CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Password of every PKCS#12 file written by the test PKI.
PASSWORD = "test"

KEY_TYPES = (
    "rsa2048",
    "rsa3072",
    "rsa1024",
    "ec-p256",
    "ec-p384",
    "ec-p521",
    "ed25519",
    "x25519",
    "x448",
    "ml-kem-768",
    "ml-kem-1024",
    "ml-dsa-44",
    "ml-dsa-65",
    "ml-dsa-87",
)
_PQ_KEYS: dict[str, Any] = {
    "ml-kem-768": mlkem.MLKEM768PrivateKey,
    "ml-kem-1024": mlkem.MLKEM1024PrivateKey,
    "ml-dsa-44": mldsa.MLDSA44PrivateKey,
    "ml-dsa-65": mldsa.MLDSA65PrivateKey,
    "ml-dsa-87": mldsa.MLDSA87PrivateKey,
}

_CURVES: dict[str, ec.EllipticCurve] = {
    "ec-p256": ec.SECP256R1(),
    "ec-p384": ec.SECP384R1(),
    "ec-p521": ec.SECP521R1(),
}

# Accepted key usage names: the RFC 5280 names (camelCase) and cryptography's snake_case names.
_KEY_USAGE_NAMES: dict[str, str] = {
    "digitalsignature": "digital_signature",
    "nonrepudiation": "content_commitment",
    "contentcommitment": "content_commitment",
    "keyencipherment": "key_encipherment",
    "dataencipherment": "data_encipherment",
    "keyagreement": "key_agreement",
    "keycertsign": "key_cert_sign",
    "crlsign": "crl_sign",
    "encipheronly": "encipher_only",
    "decipheronly": "decipher_only",
}


def generate_key(key_type: str) -> PrivateKey:
    """A fresh private key of one of KEY_TYPES."""
    if key_type.startswith("rsa"):
        bits = int(key_type[3:])
        if bits not in (1024, 2048, 3072, 4096):
            raise ValueError(f"unsupported RSA size: {key_type}")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ed448":
        return ed448.Ed448PrivateKey.generate()
    if key_type == "x25519":
        return x25519.X25519PrivateKey.generate()
    if key_type in _PQ_KEYS:
        key: PrivateKey = _PQ_KEYS[key_type].generate()
        return key
    if key_type == "x448":
        return x448.X448PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


def default_key_usage(key: PrivateKey) -> set[str]:
    """The S/MIME key usage bits a user certificate for this key type gets by default."""
    if isinstance(key, rsa.RSAPrivateKey):
        return {"digitalSignature", "nonRepudiation", "keyEncipherment"}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"digitalSignature", "nonRepudiation", "keyAgreement"}
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return {"digitalSignature", "nonRepudiation"}
    if isinstance(key, mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey):
        return {"digitalSignature", "nonRepudiation"}  # RFC 9881 §5
    if isinstance(key, mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey):
        return {"keyEncipherment"}  # RFC 9935 §5
    return {"keyAgreement"}


def _key_usage(names: set[str]) -> x509.KeyUsage:
    flags = dict.fromkeys(_KEY_USAGE_NAMES.values(), False)
    for name in names:
        norm = name.replace("_", "").lower()
        if norm not in _KEY_USAGE_NAMES:
            raise ValueError(f"unknown key usage {name!r}")
        flags[_KEY_USAGE_NAMES[norm]] = True
    return x509.KeyUsage(**flags)


def _sig_hash(issuer_key: CAKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey) and issuer_key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _p12(name: str, key: PrivateKey, cert: x509.Certificate, chain: list[x509.Certificate], legacy: bool) -> bytes:
    """PKCS#12 with key, certificate and chain; legacy = 3DES/SHA-1 (what gpgsm and old NSS import)."""
    if isinstance(key, x25519.X25519PrivateKey | x448.X448PrivateKey):
        return _p12_openssl(name, key, cert, chain, legacy)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                      | ed448.Ed448PrivateKey):
        return b""  # neither pyca nor OpenSSL 3.0 writes ML-KEM / ML-DSA keys into PKCS#12: the file stays empty
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
    if legacy:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, chain, builder.build(PASSWORD.encode()))


def _p12_openssl(
    name: str, key: PrivateKey, cert: x509.Certificate, chain: list[x509.Certificate], legacy: bool
) -> bytes:
    # pyca cannot put X25519/X448 keys in a PKCS#12; the openssl command line can. Without openssl the file
    # is left empty, which only matters to the (peer) tests that would need openssl anyway.
    binary = shutil.which("openssl")
    if binary is None:
        return b""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "key.pem").write_bytes(_pem_key(key))
        (d / "cert.pem").write_bytes(_pem_cert(cert))
        (d / "chain.pem").write_bytes(b"".join(_pem_cert(c) for c in chain))
        algs = (
            ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]
            if legacy
            else ["-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC", "-macalg", "sha256"]
        )
        subprocess.run(
            [
                binary,
                "pkcs12",
                "-export",
                "-inkey",
                d / "key.pem",
                "-in",
                d / "cert.pem",
                "-certfile",
                d / "chain.pem",
                "-name",
                name,
                "-passout",
                f"pass:{PASSWORD}",
                "-out",
                d / "out.p12",
                *algs,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return (d / "out.p12").read_bytes()


@dataclass(frozen=True)
class User:
    """An end entity: key, certificate, chain, and the same written to files in several formats."""

    name: str
    email: str
    key: PrivateKey
    cert: x509.Certificate
    chain: list[x509.Certificate]  # issuing intermediate(s), then the root; not the user's certificate
    key_path: Path  # PEM PKCS#8, unencrypted
    cert_path: Path  # PEM
    chain_path: Path  # PEM bundle: intermediate(s) then root
    p12_path: Path  # PKCS#12, password "test", AES-256-CBC + PBKDF2 + HMAC-SHA256; key, cert, chain
    legacy_p12_path: Path  # PKCS#12, password "test", 3DES + SHA-1 (gpgsm, NSS); key, cert, chain
    combined_path: Path  # PEM key followed by PEM certificate

    @property
    def key_type(self) -> str:
        key = self.key
        if isinstance(key, rsa.RSAPrivateKey):
            return f"rsa{key.key_size}"
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {256: "ec-p256", 384: "ec-p384", 521: "ec-p521"}[key.curve.key_size]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return "ed25519"
        if isinstance(key, ed448.Ed448PrivateKey):
            return "ed448"
        if isinstance(key, x25519.X25519PrivateKey):
            return "x25519"
        for name, cls in _PQ_KEYS.items():
            if isinstance(key, cls):
                return name
        return "x448"


class TestPKI:
    """Root CA (RSA 3072) -> intermediate CA (RSA 2048) -> users; files written under `directory`.

    `user(..., issuer="root")` issues directly from the root; `issuer="ec-intermediate"` from a second
    intermediate with a P-256 key (certificates signed with ECDSA).
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._users: dict[tuple[Any, ...], User] = {}
        self._names: set[str] = set()
        now = datetime.now(UTC)
        ca_not_before, ca_not_after = now - timedelta(days=2), now + timedelta(days=3650)

        root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "mailseal Test Root"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailseal tests"),
            ]
        )
        self.root_key: CAKey = root_key
        self.root_cert = self._ca_cert(root_name, root_key, root_name, root_key, ca_not_before, ca_not_after)
        self.root_path = self._write("root.pem", _pem_cert(self.root_cert))
        self.anchors_path = self._write("anchors.pem", _pem_cert(self.root_cert))

        inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.intermediate_key: CAKey = inter_key
        self.intermediate_cert = self._ca_cert(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "mailseal Test Intermediate"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailseal tests"),
                ]
            ),
            inter_key,
            root_name,
            root_key,
            ca_not_before,
            ca_not_after,
            path_length=0,
        )
        self.intermediate_path = self._write("intermediate.pem", _pem_cert(self.intermediate_cert))
        self._ec_intermediate: tuple[x509.Certificate, CAKey] | None = None

    # -- CAs -----------------------------------------------------------------------------------------

    def _ca_cert(
        self,
        subject: x509.Name,
        key: CAKey,
        issuer: x509.Name,
        issuer_key: CAKey,
        not_before: datetime,
        not_after: datetime,
        path_length: int | None = None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_key_usage({"keyCertSign", "cRLSign"}), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        return builder.sign(issuer_key, _sig_hash(issuer_key))

    @property
    def ec_intermediate_cert(self) -> x509.Certificate:
        return self._ec_ca()[0]

    def _ec_ca(self) -> tuple[x509.Certificate, CAKey]:
        with self._lock:
            if self._ec_intermediate is None:
                key = ec.generate_private_key(ec.SECP256R1())
                now = datetime.now(UTC)
                cert = self._ca_cert(
                    x509.Name(
                        [
                            x509.NameAttribute(NameOID.COMMON_NAME, "mailseal Test EC Intermediate"),
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailseal tests"),
                        ]
                    ),
                    key,
                    self.root_cert.subject,
                    self.root_key,
                    now - timedelta(days=2),
                    now + timedelta(days=3650),
                    path_length=0,
                )
                self._write("ec-intermediate.pem", _pem_cert(cert))
                self._ec_intermediate = (cert, key)
            return self._ec_intermediate

    def _issuer(self, issuer: str) -> tuple[x509.Certificate, CAKey, list[x509.Certificate]]:
        if issuer == "intermediate":
            return self.intermediate_cert, self.intermediate_key, [self.intermediate_cert, self.root_cert]
        if issuer == "root":
            return self.root_cert, self.root_key, [self.root_cert]
        if issuer == "ec-intermediate":
            cert, key = self._ec_ca()
            return cert, key, [cert, self.root_cert]
        raise ValueError(f"unknown issuer {issuer!r}: expected intermediate, root or ec-intermediate")

    # -- users ---------------------------------------------------------------------------------------

    def user(
        self,
        name: str,
        key_type: str = "rsa2048",
        *,
        email: str | None = None,
        key_usage: set[str] | None = None,
        eku: list[ObjectIdentifier] | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        issuer: str = "intermediate",
        san: bool = True,
        subject_email: bool = False,
    ) -> User:
        """An end-entity certificate and key (cached on all arguments).

        key_usage: names such as "digitalSignature", "keyEncipherment"; None = the default for the key type;
        an empty set omits the KeyUsage extension. eku: None = [emailProtection]; [] omits the extension.
        san=False omits the subjectAltName; subject_email=True also puts the address in the subject DN
        (emailAddress attribute).
        """
        email = email if email is not None else f"{name}@example.org"
        cache_key = (
            name,
            key_type,
            email,
            None if key_usage is None else frozenset(key_usage),
            None if eku is None else tuple(o.dotted_string for o in eku),
            not_before,
            not_after,
            issuer,
            san,
            subject_email,
        )
        with self._lock:
            cached = self._users.get(cache_key)
        if cached is not None:
            return cached

        key = generate_key(key_type)
        issuer_cert, issuer_key, chain = self._issuer(issuer)
        now = datetime.now(UTC)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        if subject_email:
            attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailseal tests"))
        usage = default_key_usage(key) if key_usage is None else key_usage
        ekus = [ExtendedKeyUsageOID.EMAIL_PROTECTION] if eku is None else eku

        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        if usage:
            builder = builder.add_extension(_key_usage(set(usage)), critical=True)
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        cert = builder.sign(issuer_key, _sig_hash(issuer_key))

        with self._lock:
            cached = self._users.get(cache_key)
            if cached is not None:
                return cached
            stem = f"{name}_{key_type}"
            if stem in self._names:
                stem += "_" + hashlib.sha256(repr(cache_key).encode()).hexdigest()[:10]
            self._names.add(stem)
            key_pem, cert_pem = _pem_key(key), _pem_cert(cert)
            user = User(
                name=name,
                email=email,
                key=key,
                cert=cert,
                chain=list(chain),
                key_path=self._write(f"{stem}.key.pem", key_pem),
                cert_path=self._write(f"{stem}.cert.pem", cert_pem),
                chain_path=self._write(f"{stem}.chain.pem", b"".join(_pem_cert(c) for c in chain)),
                p12_path=self._write(f"{stem}.p12", _p12(name, key, cert, chain, legacy=False)),
                legacy_p12_path=self._write(f"{stem}.legacy.p12", _p12(name, key, cert, chain, legacy=True)),
                combined_path=self._write(f"{stem}.combined.pem", key_pem + cert_pem),
            )
            self._users[cache_key] = user
            return user

    def _write(self, filename: str, data: bytes) -> Path:
        path = self.directory / filename
        path.write_bytes(data)
        return path

"""An internal CA issuing S/MIME certificates in the CA/B Forum S/MIME BR strict mailbox-validated profile.

Profile (S/MIME BR §7.1.2.3, RFC 8550 §4.4, RFC 5280 §4.2): separate signing and encryption certificates, or
dual-use on request (BR §7.1.2.3 (e): digitalSignature [+ nonRepudiation] to sign; keyEncipherment for RSA or
keyAgreement for EC to encrypt); EKU emailProtection only; SAN rfc822Name, or SmtpUTF8Mailbox (RFC 9598 §3) for a
non-ASCII local part; subject holding only the mailbox (commonName, emailAddress; BR §7.1.4.2.2); the
certificatePolicies OID 2.23.140.1.5.1.3 (mailbox-validated strict, BR §7.1.6.1); validity <= 825 days
(BR §6.3.2); serials of 159 random bits (BR §7.1: at least 64); SKI and AKI; CRL distribution point and
AIA OCSP only when configured. CRLs follow RFC 5280 §5 (CRL number, next update, reason codes).

The CA lives in one directory (``ca`` in the data directory by default): ``ca.pem`` (certificate), ``ca-key.json`` (the
private key, PKCS#8 encrypted with AES-256-GCM under a scrypt key (RFC 7914) derived from the passphrase; never in
clear on disk), ``ca.json`` (settings) and ``ca.db`` (SQLite register of issued certificates). Every file is
mode 0600 and the directory 0700.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from asn1crypto import core as a_core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ..cms.identity import Password, password_bytes
from ..cms.names import serial_text
from ..config import data_dir
from ..errors import ErrorCode, MailsealError, UsageError, WrongPasswordError
from .profile import SMTP_UTF8_MAILBOX

CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
UserKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Usage = Literal["sign", "encrypt", "dual"]

CA_KEY_TYPES = ("rsa3072", "rsa4096", "p256", "p384", "ed25519")
USER_KEY_TYPES = ("rsa2048", "rsa3072", "p256", "p384")
USAGES: tuple[Usage, ...] = ("sign", "encrypt", "dual")

#: S/MIME BR §6.3.2: a subscriber certificate is valid for at most 825 days.
MAX_VALIDITY_DAYS = 825
#: S/MIME BR §7.1.6.1: mailbox-validated, strict.
MAILBOX_VALIDATED_STRICT = ObjectIdentifier("2.23.140.1.5.1.3")
#: RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck, so clients do not check the delegated responder's own status.
OCSP_NO_CHECK = ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")

#: Revocation reasons S/MIME BR §4.9.1.1 allows for subscriber certificates (RFC 5280 §5.3.1 names).
REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}

KEY_FILE = "ca-key.json"
CERT_FILE = "ca.pem"
CONFIG_FILE = "ca.json"
DB_FILE = "ca.db"
CRL_FILE = "crl.der"

_KEY_FORMAT = "mailseal-ca-key/1"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1
_MAX_SCRYPT_N = 2**20
# Certificates are backdated a little so a relying party whose clock is slightly behind accepts them at once.
_BACKDATE = timedelta(minutes=5)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    usage TEXT NOT NULL,
    key_type TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    revoked_at TEXT,
    reason TEXT,
    der BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_email ON certificates (email);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CAError(MailsealError):
    """The internal CA is missing or was asked for something it refuses (a damaged CA: ``malformed-input``)."""

    code = ErrorCode.USAGE


def default_directory() -> Path:
    """Where the CA lives: ``ca`` in the data directory (``mailseal.config.data_dir``)."""
    return data_dir() / "ca"


# -- keys ------------------------------------------------------------------------------------------------------


def generate_key(key_type: str) -> CAKey:
    """A fresh key: rsa2048/3072/4096, p256, p384 or ed25519."""
    if key_type in ("rsa2048", "rsa3072", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise UsageError(f"unknown key type {key_type!r}")



def signature_hash(key: CAKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The digest to sign with: SHA-384 for P-384 (RFC 5480 §4), none for Ed25519 (RFC 8410), else SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _kdf(salt: bytes, n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p)


def encrypt_key(key: CAKey, passphrase: bytes) -> bytes:
    """The key as PKCS#8 DER sealed with AES-256-GCM under scrypt(passphrase) (RFC 7914), as a JSON document."""
    if not passphrase:
        raise UsageError("the CA passphrase must not be empty")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {"format": _KEY_FORMAT, "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P,
                                             "salt": base64.b64encode(salt).decode()},
              "cipher": {"name": "aes-256-gcm", "nonce": base64.b64encode(nonce).decode()}}
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    aead = AESGCM(_kdf(salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P).derive(passphrase))
    # The parameters are authenticated too, so a tampered header fails like a wrong passphrase.
    sealed = aead.encrypt(nonce, der, json.dumps(header, sort_keys=True).encode())
    return json.dumps({**header, "ciphertext": base64.b64encode(sealed).decode()}, indent=1).encode() + b"\n"


def decrypt_key(data: bytes, passphrase: bytes) -> CAKey:
    """Open a key sealed by ``encrypt_key``; a wrong passphrase raises ``WrongPasswordError``."""
    try:
        doc = json.loads(data)
        header = {k: doc[k] for k in ("format", "kdf", "cipher")}
        if header["format"] != _KEY_FORMAT or header["kdf"]["name"] != "scrypt":
            raise ValueError("unknown key format")
        n, r, p = int(header["kdf"]["n"]), int(header["kdf"]["r"]), int(header["kdf"]["p"])
        if not (2 <= n <= _MAX_SCRYPT_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("scrypt parameters out of range")
        salt = base64.b64decode(header["kdf"]["salt"])
        nonce = base64.b64decode(header["cipher"]["nonce"])
        sealed = base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CAError(f"the CA key file is damaged: {exc}", code=ErrorCode.MALFORMED_INPUT) from None
    aead = AESGCM(_kdf(salt, n, r, p).derive(passphrase))
    try:
        der = aead.decrypt(nonce, sealed, json.dumps(header, sort_keys=True).encode())
    except InvalidTag:
        raise WrongPasswordError("the CA passphrase is wrong") from None
    key = serialization.load_der_private_key(der, None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise CAError(f"the CA key has an unsupported type {type(key).__name__}")
    return key


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (mode 0600 from creation, then an atomic rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# -- addresses -------------------------------------------------------------------------------------------------


def mailbox_names(address: str) -> tuple[x509.GeneralName, str, bool]:
    """(SAN entry, address as written in the certificate, ASCII?) for a mailbox address.

    An ASCII local part becomes an rfc822Name with the domain in A-labels (RFC 5280 §7.5); a non-ASCII one an
    SmtpUTF8Mailbox otherName (RFC 9598 §3), whose domain part is also written in A-labels.
    """
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>()[],;:\"\\" for c in address):
        raise UsageError(f"{address!r} is not a plain mailbox address (local@domain)")
    try:
        a_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UsageError(f"the domain of {address!r} is not a valid (internationalized) domain name") from None
    if "." not in a_domain:
        raise UsageError(f"the domain of {address!r} is not fully qualified")
    written = f"{local}@{a_domain}"
    if local.isascii():
        return x509.RFC822Name(written), written, True
    return x509.OtherName(SMTP_UTF8_MAILBOX, a_core.UTF8String(written).dump()), written, False


# -- the register --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedRecord:
    """One certificate the CA issued, as its register keeps it."""

    serial: int
    email: str
    usage: str
    key_type: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None
    der: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")

    def status(self, at: datetime | None = None) -> str:
        """``revoked``, ``expired`` or ``valid`` at ``at``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if (at or datetime.now(UTC)) > self.not_after else "valid"

    def to_dict(self, at: datetime | None = None) -> dict[str, Any]:
        return {
            "serial": serial_text(self.serial),
            "email": self.email,
            "usage": self.usage,
            "key_type": self.key_type,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "status": self.status(at),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Issued:
    """A freshly issued certificate with its private key (the key exists only in memory and the PKCS#12)."""

    key: UserKey
    certificate: x509.Certificate
    record: IssuedRecord


def parse_serial(text: str) -> int:
    """A serial as ``ca list`` prints it (hex), with or without colons or ``0x``."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        return int(cleaned, 16)
    except ValueError:
        raise UsageError(f"{text!r} is not a serial number in hexadecimal") from None


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class CAConfig:
    """Settings fixed at ``ca init``."""

    name: str
    crl_url: str | None = None
    ocsp_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "crl_url": self.crl_url, "ocsp_url": self.ocsp_url}


def _check_url(url: str | None, what: str) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise UsageError(f"the {what} URL must be http:// or https:// (RFC 5280 §4.2.1.13, RFC 6960 §3.1)")


class CertificateAuthority:
    """The CA in ``directory``. Reading (certificate, register) needs no passphrase; signing needs the key."""

    def __init__(self, directory: Path, certificate: x509.Certificate, config: CAConfig,
                 key: CAKey | None = None) -> None:
        self.directory = directory
        self.certificate = certificate
        self.config = config
        self._key = key

    # -- creation and loading ----------------------------------------------------------------------------

    @staticmethod
    def exists(directory: Path | None = None) -> bool:
        return ((directory or default_directory()) / KEY_FILE).exists()

    @classmethod
    def create(
        cls,
        name: str,
        passphrase: Password,
        *,
        directory: Path | None = None,
        key_type: str = "rsa3072",
        days: int = 3650,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        at: datetime | None = None,
    ) -> CertificateAuthority:
        """Generate the CA key and self-signed certificate (RFC 5280 §4.2.1.9, §4.2.1.3) and write them."""
        if directory is None:
            data_dir(create=True)
            directory = default_directory()
        if key_type not in CA_KEY_TYPES:
            raise UsageError(f"CA key type must be one of {', '.join(CA_KEY_TYPES)}")
        if not name.strip():
            raise UsageError("the CA needs a name")
        if not 1 <= days <= 36500:
            raise UsageError("the CA validity must be between 1 and 36500 days")
        _check_url(crl_url, "CRL")
        _check_url(ocsp_url, "OCSP")
        if cls.exists(directory):
            raise CAError(f"a CA already exists in {directory}")
        key = generate_key(key_type)
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name.strip())])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            # digitalSignature: the CA signs OCSP responses itself (S/MIME BR §7.1.2.1 (e)).
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, signature_hash(key))
        )
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        config = CAConfig(name.strip(), crl_url, ocsp_url)
        _write_private(directory / CONFIG_FILE, json.dumps(config.to_dict(), indent=1).encode() + b"\n")
        _write_private(directory / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(directory, cert, config, key)
        with ca._db():
            pass
        # The key goes last: its presence is what marks a complete CA.
        _write_private(directory / KEY_FILE, encrypt_key(key, password_bytes(passphrase) or b""))
        return ca

    @classmethod
    def load(cls, directory: Path | None = None, passphrase: Password | None = None) -> CertificateAuthority:
        """Open the CA; with a passphrase the key is unlocked too (``WrongPasswordError`` when it is wrong)."""
        directory = directory or default_directory()
        if not cls.exists(directory):
            raise CAError(f"no CA in {directory}: run `mailseal ca init --name NAME` first")
        try:
            cert = x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())
            raw = json.loads((directory / CONFIG_FILE).read_bytes())
            config = CAConfig(str(raw["name"]), raw.get("crl_url"), raw.get("ocsp_url"))
        except (ValueError, KeyError, TypeError) as exc:
            raise CAError(f"the CA in {directory} is damaged: {exc}", code=ErrorCode.MALFORMED_INPUT) from None
        key = None
        if passphrase is not None:
            key = decrypt_key((directory / KEY_FILE).read_bytes(), password_bytes(passphrase) or b"")
            if key.public_key() != cert.public_key():
                raise CAError("the CA key does not belong to the CA certificate")
        return cls(directory, cert, config, key)

    @property
    def key(self) -> CAKey:
        if self._key is None:
            raise UsageError("this operation needs the CA key: open the CA with its passphrase")
        return self._key

    @property
    def ski(self) -> x509.SubjectKeyIdentifier:
        return self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    # -- the register ------------------------------------------------------------------------------------

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        path = self.directory / DB_FILE
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        with closing(sqlite3.connect(path, timeout=10)) as conn:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn

    @staticmethod
    def _record(row: tuple[Any, ...]) -> IssuedRecord:
        serial, email, usage, key_type, nb, na, revoked_at, reason, der = row
        return IssuedRecord(int(serial, 16), email, usage, key_type, datetime.fromisoformat(nb),
                            datetime.fromisoformat(na), _ts(revoked_at), reason, bytes(der))

    _COLUMNS = "serial, email, usage, key_type, not_before, not_after, revoked_at, reason, der"

    def records(self, email: str | None = None) -> list[IssuedRecord]:
        """Every certificate issued (for ``email`` when given), oldest first."""
        with self._db() as db:
            if email is None:
                rows = db.execute(f"SELECT {self._COLUMNS} FROM certificates ORDER BY not_before, serial")
            else:
                rows = db.execute(f"SELECT {self._COLUMNS} FROM certificates WHERE lower(email) = lower(?) "
                                  "ORDER BY not_before, serial", (email.strip(),))
            return [self._record(r) for r in rows.fetchall()]

    def find(self, serial: int) -> IssuedRecord | None:
        with self._db() as db:
            row = db.execute(f"SELECT {self._COLUMNS} FROM certificates WHERE serial = ?",
                             (format(serial, "x"),)).fetchone()
        return self._record(row) if row else None

    # -- issuing -------------------------------------------------------------------------------------------

    def issue(
        self,
        email: str,
        *,
        usage: str = "sign",
        key_type: str = "rsa3072",
        days: int = 365,
        common_name: bool = True,
        at: datetime | None = None,
    ) -> Issued:
        """Generate a key and issue a mailbox-validated strict certificate for it (S/MIME BR §7.1.2.3)."""
        if usage not in USAGES:
            raise UsageError(f"usage must be one of {', '.join(USAGES)}")
        if key_type not in USER_KEY_TYPES:
            raise UsageError(f"key type must be one of {', '.join(USER_KEY_TYPES)}")
        if days < 1:
            raise UsageError("the validity must be at least one day")
        if days > MAX_VALIDITY_DAYS:
            raise UsageError(f"the S/MIME Baseline Requirements allow at most {MAX_VALIDITY_DAYS} days of validity "
                             f"(§6.3.2); {days} were asked")
        san, written, ascii_mailbox = mailbox_names(email)
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        not_before = now - _BACKDATE
        # RFC 5280 §4.1.2.5: the validity period includes both ends, hence the second less.
        not_after = not_before + timedelta(days=days) - timedelta(seconds=1)
        if not_after > self.certificate.not_valid_after_utc:
            raise UsageError("the certificate would outlive the CA certificate; ask for fewer days")
        ca_key = self.key
        key = generate_key(key_type)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, written)] if common_name else []
        if ascii_mailbox:
            # emailAddress is an IA5String, so an internationalized mailbox can only be in the commonName.
            attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, written))
        if not attrs:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, written))
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_user_key_usage(key, usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(MAILBOX_VALIDATED_STRICT, None)]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), critical=False)
        )
        if self.config.crl_url:
            dp = x509.DistributionPoint([x509.UniformResourceIdentifier(self.config.crl_url)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([dp]), critical=False)
        if self.config.ocsp_url:
            aia = x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                         x509.UniformResourceIdentifier(self.config.ocsp_url))
            builder = builder.add_extension(x509.AuthorityInformationAccess([aia]), critical=False)
        cert = builder.sign(ca_key, signature_hash(ca_key))
        der = cert.public_bytes(serialization.Encoding.DER)
        record = IssuedRecord(serial, written, usage, key_type, cert.not_valid_before_utc, cert.not_valid_after_utc,
                              None, None, der)
        with self._db() as db:
            db.execute(f"INSERT INTO certificates ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                       (record.serial_hex, written, usage, key_type, record.not_before.isoformat(),
                        record.not_after.isoformat(), der))
        return Issued(key, cert, record)

    def pkcs12(self, issued: Issued, password: Password, *, legacy: bool = False) -> bytes:
        """The user's PKCS#12: key, certificate and the CA certificate (RFC 7292).

        Default: PBES2 AES-256-CBC, PBKDF2 and HMAC-SHA-256. ``legacy``: 3DES and SHA-1, the only kind
        gpgsm 2.2 and older NSS import.
        """
        if not password:
            raise UsageError("the PKCS#12 file needs a password")
        builder = serialization.PrivateFormat.PKCS12.encryption_builder()
        if legacy:
            builder = (builder.kdf_rounds(2048).key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                       .hmac_hash(hashes.SHA1()))
        else:
            builder = (builder.kdf_rounds(200_000).key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                       .hmac_hash(hashes.SHA256()))
        return pkcs12.serialize_key_and_certificates(
            issued.record.email.encode(), issued.key, issued.certificate, [self.certificate],
            builder.build(password_bytes(password) or b""),
        )

    # -- revocation ----------------------------------------------------------------------------------------

    def revoke(self, serial: int, reason: str = "unspecified", at: datetime | None = None) -> IssuedRecord:
        """Record a revocation (RFC 5280 §5.3.1 reason); publish it with ``crl()`` or the OCSP responder."""
        if reason not in REASONS:
            raise UsageError(f"reason must be one of {', '.join(REASONS)}")
        record = self.find(serial)
        if record is None:
            raise CAError(f"this CA issued no certificate with serial {serial_text(serial)}")
        if record.revoked_at is not None:
            raise CAError(f"certificate {serial_text(serial)} was already revoked on {record.revoked_at.isoformat()}")
        when = (at or datetime.now(UTC)).replace(microsecond=0)
        with self._db() as db:
            db.execute("UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ?",
                       (when.isoformat(), reason, record.serial_hex))
        found = self.find(serial)
        assert found is not None
        return found

    def crl(self, days: int = 7, at: datetime | None = None) -> x509.CertificateRevocationList:
        """Sign a full CRL (RFC 5280 §5) with the next CRL number; also kept as ``crl.der`` in the CA folder."""
        if not 1 <= days <= 366:
            raise UsageError("the CRL's next update must be between 1 and 366 days away")
        ca_key = self.key
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE name = 'crl_number'").fetchone()
            number = int(row[0]) + 1 if row else 1
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('crl_number', ?)", (str(number),))
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + timedelta(days=days))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), critical=False)
        )
        for record in self.records():
            if record.revoked_at is None:
                continue
            entry = x509.RevokedCertificateBuilder().serial_number(record.serial).revocation_date(record.revoked_at)
            # RFC 5280 §5.3.1: the reason code extension is omitted rather than set to unspecified.
            if record.reason and record.reason != "unspecified":
                entry = entry.add_extension(x509.CRLReason(REASONS[record.reason]), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(ca_key, signature_hash(ca_key))
        _write_private(self.directory / CRL_FILE, crl.public_bytes(serialization.Encoding.DER))
        return crl

    # -- OCSP ----------------------------------------------------------------------------------------------

    def ocsp_responder_certificate(self, days: int = 2, at: datetime | None = None) -> tuple[CAKey, x509.Certificate]:
        """A short-lived delegated OCSP responder (RFC 6960 §4.2.2.2): id-kp-OCSPSigning and ocsp-nocheck.

        The key stays in memory: a responder restart makes a new one, so nothing long-lived can leak.
        """
        ca_key = self.key
        key = generate_key("p256")
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{self.config.name} OCSP responder")]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(min(now + timedelta(days=days), self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
            .add_extension(x509.UnrecognizedExtension(OCSP_NO_CHECK, b"\x05\x00"), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), critical=False)
            .sign(ca_key, signature_hash(ca_key))
        )
        return key, cert


def _user_key_usage(key: UserKey, usage: str) -> x509.KeyUsage:
    """S/MIME BR §7.1.2.3 (e) key usage for the strict profile."""
    sign = usage in ("sign", "dual")
    encrypt = usage in ("encrypt", "dual")
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=encrypt and is_rsa,
        data_encipherment=False,
        key_agreement=encrypt and not is_rsa,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


__all__ = [
    "CA_KEY_TYPES",
    "MAILBOX_VALIDATED_STRICT",
    "MAX_VALIDITY_DAYS",
    "REASONS",
    "USAGES",
    "USER_KEY_TYPES",
    "CAConfig",
    "CAError",
    "CertificateAuthority",
    "Issued",
    "IssuedRecord",
    "decrypt_key",
    "default_directory",
    "encrypt_key",
    "generate_key",
    "mailbox_names",
    "parse_serial",
    "signature_hash",
]

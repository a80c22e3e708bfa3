"""An internal CA issuing S/MIME certificates in the CA/B Forum S/MIME BR strict mailbox-validated profile.

``CertificateAuthority`` ties the pieces together; each lives in its own module, and the names are re-exported here:

* ``mailseal.pki.ca_files``: the CA directory (``ca`` in the data directory), its files, settings and ``CAError``;
* ``mailseal.pki.ca_keyfile``: key generation and the passphrase-sealed key file (scrypt, AES-256-GCM);
* ``mailseal.pki.ca_profile``: what a certificate holds (S/MIME BR §7.1.2.3 mailbox-validated strict);
* ``mailseal.pki.ca_register``: the SQLite register of issued certificates (``ca.db``);
* ``mailseal.pki.ca_crl``: CRLs (RFC 5280 §5) and the reasons allowed;
* ``mailseal.pki.ca_pkcs12``: the subscriber's PKCS#12 (RFC 7292).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem

from ..cms.identity import Password, password_bytes
from ..cms.names import serial_text
from ..config import data_dir
from ..errors import ErrorCode, UsageError
from .ca_crl import REASONS, build_crl
from .ca_files import (
    CERT_FILE,
    CONFIG_FILE,
    CRL_FILE,
    DB_FILE,
    KEY_FILE,
    CAConfig,
    CAError,
    check_url,
    default_directory,
    write_private,
)
from .ca_keyfile import (
    CA_KEY_TYPES,
    ML_DSA_KEY_TYPES,
    ML_KEM_KEY_TYPES,
    USER_KEY_TYPES,
    CAKey,
    UserKey,
    decrypt_key,
    encrypt_key,
    generate_key,
    signature_hash,
)
from .ca_pkcs12 import subscriber_pkcs12
from .ca_profile import (
    BACKDATE,
    MAILBOX_VALIDATED_STRICT,
    MAX_VALIDITY_DAYS,
    OCSP_NO_CHECK,
    USAGES,
    Usage,
    ca_certificate,
    mailbox_names,
    ocsp_responder_certificate,
    subscriber_certificate,
)
from .ca_register import CARegister, IssuedRecord, IssuedRegister, parse_serial


@dataclass(frozen=True)
class Issued:
    """A freshly issued certificate with its private key (the key exists only in memory and the PKCS#12)."""

    key: UserKey
    certificate: x509.Certificate
    record: IssuedRecord


class CertificateAuthority:
    """The CA in ``directory``. Reading (certificate, register) needs no passphrase; signing needs the key."""

    def __init__(self, directory: Path, certificate: x509.Certificate, config: CAConfig,
                 key: CAKey | None = None, register: IssuedRegister | None = None) -> None:
        self.directory = directory
        self.certificate = certificate
        self.config = config
        self._key = key
        #: The file register in the CA directory unless another is given (the store's: ``store.ca_register``).
        self.register: IssuedRegister = register or CARegister(directory / DB_FILE)

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
        check_url(crl_url, "CRL")
        check_url(ocsp_url, "OCSP")
        if cls.exists(directory):
            raise CAError(f"a CA already exists in {directory}")
        key = generate_key(key_type)
        assert not isinstance(key, mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey)  # never a CA key type
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        cert = ca_certificate(key, name.strip(), now, days)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        config = CAConfig(name.strip(), crl_url, ocsp_url)
        write_private(directory / CONFIG_FILE, config.to_json())
        write_private(directory / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(directory, cert, config, key)
        ca.register.create()
        # The key goes last: its presence is what marks a complete CA.
        write_private(directory / KEY_FILE, encrypt_key(key, password_bytes(passphrase) or b""))
        return ca

    @classmethod
    def load(cls, directory: Path | None = None, passphrase: Password | None = None,
             register: IssuedRegister | None = None) -> CertificateAuthority:
        """Open the CA; with a passphrase the key is unlocked too (``WrongPasswordError`` when it is wrong)."""
        directory = directory or default_directory()
        if not cls.exists(directory):
            raise CAError(f"no CA in {directory}: run `mailseal ca init --name NAME` first")
        try:
            cert = x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())
            config = CAConfig.from_json((directory / CONFIG_FILE).read_bytes())
        except (ValueError, KeyError, TypeError) as exc:
            raise CAError(f"the CA in {directory} is damaged: {exc}", code=ErrorCode.MALFORMED_INPUT) from None
        key = None
        if passphrase is not None:
            key = decrypt_key((directory / KEY_FILE).read_bytes(), password_bytes(passphrase) or b"")
            if key.public_key() != cert.public_key():
                raise CAError("the CA key does not belong to the CA certificate")
        return cls(directory, cert, config, key, register)

    @property
    def key(self) -> CAKey:
        if self._key is None:
            raise UsageError("this operation needs the CA key: open the CA with its passphrase")
        return self._key

    @property
    def ski(self) -> x509.SubjectKeyIdentifier:
        return self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    # -- the register ------------------------------------------------------------------------------------

    def records(self, email: str | None = None) -> list[IssuedRecord]:
        """Every certificate issued (for ``email`` when given), oldest first."""
        return self.register.records(email)

    def find(self, serial: int) -> IssuedRecord | None:
        return self.register.find(serial)

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
        not_before = now - BACKDATE
        # RFC 5280 §4.1.2.5: the validity period includes both ends, hence the second less.
        not_after = not_before + timedelta(days=days) - timedelta(seconds=1)
        if not_after > self.certificate.not_valid_after_utc:
            raise UsageError("the certificate would outlive the CA certificate; ask for fewer days")
        ca_key = self.key
        key = generate_key(key_type)
        assert not isinstance(key, ed25519.Ed25519PrivateKey)
        serial = x509.random_serial_number()
        cert = subscriber_certificate(self.certificate, ca_key, self.config, key, serial=serial, san=san,
                                      written=written, ascii_mailbox=ascii_mailbox, usage=usage,
                                      common_name=common_name, not_before=not_before, not_after=not_after)
        der = cert.public_bytes(serialization.Encoding.DER)
        record = IssuedRecord(serial, written, usage, key_type, cert.not_valid_before_utc, cert.not_valid_after_utc,
                              None, None, der)
        self.register.add(record)
        return Issued(key, cert, record)

    def pkcs12(self, issued: Issued, password: Password, *, legacy: bool = False) -> bytes:
        """The user's PKCS#12: key, certificate and the CA certificate (RFC 7292).

        Default: PBES2 AES-256-CBC, PBKDF2 and HMAC-SHA-256. ``legacy``: 3DES and SHA-1, the only kind
        gpgsm 2.2 and older NSS import.
        """
        return subscriber_pkcs12(issued.record.email, issued.key, issued.certificate, self.certificate, password,
                                 legacy=legacy)

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
        self.register.mark_revoked(serial, when, reason)
        found = self.find(serial)
        assert found is not None
        return found

    def crl(self, days: int = 7, at: datetime | None = None) -> x509.CertificateRevocationList:
        """Sign a full CRL (RFC 5280 §5) with the next CRL number; also kept as ``crl.der`` in the CA folder."""
        if not 1 <= days <= 366:
            raise UsageError("the CRL's next update must be between 1 and 366 days away")
        ca_key = self.key
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        number = self.register.next_crl_number()
        crl = build_crl(self.certificate, ca_key, number, self.records(), now, days)
        write_private(self.directory / CRL_FILE, crl.public_bytes(serialization.Encoding.DER))
        return crl

    # -- OCSP ----------------------------------------------------------------------------------------------

    def ocsp_responder_certificate(self, days: int = 2, at: datetime | None = None) -> tuple[CAKey, x509.Certificate]:
        """A short-lived delegated OCSP responder (RFC 6960 §4.2.2.2): id-kp-OCSPSigning and ocsp-nocheck.

        The key stays in memory: a responder restart makes a new one, so nothing long-lived can leak.
        """
        ca_key = self.key
        key = generate_key("p256")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        now = (at or datetime.now(UTC)).replace(microsecond=0)
        return key, ocsp_responder_certificate(self.certificate, ca_key, self.config.name, key, now, days)


__all__ = [
    "CA_KEY_TYPES",
    "CERT_FILE",
    "CONFIG_FILE",
    "CRL_FILE",
    "DB_FILE",
    "KEY_FILE",
    "MAILBOX_VALIDATED_STRICT",
    "MAX_VALIDITY_DAYS",
    "ML_DSA_KEY_TYPES",
    "ML_KEM_KEY_TYPES",
    "OCSP_NO_CHECK",
    "REASONS",
    "USAGES",
    "USER_KEY_TYPES",
    "CAConfig",
    "CAError",
    "CAKey",
    "CertificateAuthority",
    "Issued",
    "IssuedRecord",
    "Usage",
    "UserKey",
    "decrypt_key",
    "default_directory",
    "encrypt_key",
    "generate_key",
    "mailbox_names",
    "parse_serial",
    "signature_hash",
]

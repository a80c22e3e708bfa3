"""The key store: identities (key + certificate + chain) with private keys encrypted at rest (AES-256-GCM, scrypt)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import bindparam, delete, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..cms.identity import Identity, fingerprint, load_private_key
from ..cms.inspection import RecipientIdentifier
from ..cms.names import name_text
from ..cms.token import TokenKey, TokenSettings
from ..errors import CertificateUsageError, TokenError, UsageError, WrongPasswordError
from ..pki.profile import certificate_emails, encryption_usage_problems, normalize_address, signing_usage_problems
from . import audit
from .database import Store
from .passphrase import KEYFILE_ENV, PASSPHRASE_ENV, resolve_passphrase
from .tables import identities, settings, utcnow

Usage = Literal["sign", "encrypt", "dual"]
USAGES: tuple[str, ...] = ("sign", "encrypt", "dual")
EXPORT_ENV = "MAILSEAL_ALLOW_KEY_EXPORT"

#: scrypt cost (RFC 7914): N=2^17, r=8, p=1 is OWASP's current minimum for password storage (128 MiB, ~0.3 s).
DEFAULT_SCRYPT = {"n": 2**17, "r": 8, "p": 1}
_KDF_SETTING = "keystore.kdf"
_VERIFIER_PLAINTEXT = b"mailseal key store verifier v1"
_VERIFIER_AAD = b"mailseal verifier"
_BLOB_VERSION = b"\x01"
_ID = identities.c
# Prebuilt statements for the hot paths (`sign --from`, `decrypt` with the store): built once, compiled once.
_KDF_PARAMS = select(settings.c.value).where(settings.c.name == _KDF_SETTING)
_IDENTITY_FOR = (
    select(identities)
    .where(_ID.address == bindparam("address"), or_(_ID.usage == bindparam("usage"), _ID.usage == "dual"),
           _ID.not_before <= bindparam("at"), _ID.not_after >= bindparam("at"))
    .order_by(_ID.not_before.desc(), _ID.id.desc())
    .limit(1)
)


def certificate_usage(cert: x509.Certificate, usage: str | None = None) -> str:
    """The usage an identity with ``cert`` is filed for: ``usage`` when the certificate's keyUsage and
    extendedKeyUsage allow it (sign: digitalSignature or nonRepudiation; encrypt: keyEncipherment for RSA,
    keyAgreement for EC/X25519; dual: both), else a ``CertificateUsageError``; without ``usage``, what the
    certificate allows (dual when it allows both)."""
    if usage is not None and usage not in USAGES:
        raise UsageError(f"usage must be one of {', '.join(USAGES)}")
    sign, encrypt = signing_usage_problems(cert), encryption_usage_problems(cert)
    if usage is None:
        if not sign and not encrypt:
            return "dual"
        if not sign:
            return "sign"
        if not encrypt:
            return "encrypt"
        raise CertificateUsageError(f"the certificate may neither sign nor receive encrypted mail: {sign[0]}")
    problems = {"sign": sign, "encrypt": encrypt, "dual": [*sign, *encrypt]}[usage]
    if problems:
        raise CertificateUsageError(f"the certificate does not allow usage {usage}: {problems[0]}")
    return usage


def derive_kek(passphrase: bytes, params: dict[str, Any]) -> bytes:
    """The key-encryption key: scrypt (RFC 7914) of the passphrase with the store's salt and cost."""
    salt = base64.b64decode(params["salt"])
    return Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]), p=int(params["p"])).derive(passphrase)


def _derive(passphrase: bytes, params: dict[str, Any]) -> bytes:
    # With the resident agent enabled it derives the key once and keeps it a while, as gpg-agent keeps a
    # passphrase (docs/cli.md, "The resident agent"); the verifier below checks its answer like any other.
    from ..agentclient import cached_kek

    return cached_kek(passphrase, params) or derive_kek(passphrase, params)


class KeyEncryptionKey:
    """The key-encryption key of one store, derived once from the passphrase and checked against the verifier."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def unlock(cls, store: Store, passphrase: bytes, scrypt: dict[str, int] | None = None,
               params: dict[str, Any] | None = None) -> KeyEncryptionKey:
        """Derive the key; the first unlock of a new store chooses the salt and writes the verifier. ``params``:
        the store's KDF setting when the caller has just read it (``kdf_params``)."""
        if params is None:
            with store.lookup() as conn:
                params = kdf_params(conn)
        if params is None:
            params = {"algorithm": "scrypt", **(scrypt or DEFAULT_SCRYPT), "salt": base64.b64encode(os.urandom(16)).decode()}
            key = _derive(passphrase, params)
            nonce = os.urandom(12)
            params["verifier"] = base64.b64encode(nonce + AESGCM(key).encrypt(nonce, _VERIFIER_PLAINTEXT,
                                                                              _VERIFIER_AAD)).decode()
            try:
                with store.session() as session:
                    session.execute(insert(settings).values(name=_KDF_SETTING, value=params))
                    audit.record(session, "keystore.init", "keystore", {"kdf": "scrypt", "n": params["n"]})
                return cls(key)
            except IntegrityError:
                # Another process initialised the store first: use its salt.
                return cls.unlock(store, passphrase)
        kek = cls(_derive(passphrase, params))
        verifier = base64.b64decode(params["verifier"])
        try:
            kek._aead.decrypt(verifier[:12], verifier[12:], _VERIFIER_AAD)
        except InvalidTag:
            raise WrongPasswordError("the key store passphrase is wrong") from None
        return kek

    def seal(self, secret: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, secret, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if blob[:1] != _BLOB_VERSION:
            raise WrongPasswordError("the stored key has an unknown format")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], aad)
        except InvalidTag:
            raise WrongPasswordError("a stored private key cannot be decrypted with this passphrase") from None


def kdf_params(conn: Connection) -> dict[str, Any] | None:
    """The key store's KDF setting (salt, cost, verifier); None before the first key is stored."""
    value = conn.execute(_KDF_PARAMS).scalar()
    return dict(value) if value is not None else None


def _aad(fingerprint: str) -> bytes:
    # Binding the blob to its certificate stops a swapped row from presenting one user's key as another's.
    return b"mailseal identity " + fingerprint.encode()


@dataclass(frozen=True)
class IdentityRecord:
    """An identity as listed: everything but the private key."""

    id: int
    address: str
    usage: str
    fingerprint: str
    subject: str
    not_before: datetime
    not_after: datetime
    created: datetime
    chain_length: int
    key_location: str = "store"  # "store" (encrypted in the database) or the PKCS#11 URI of the key

    def to_dict(self) -> dict[str, Any]:
        def iso(t: datetime) -> str:
            return t.isoformat().replace("+00:00", "Z")

        return {"id": self.id, "address": self.address, "usage": self.usage, "fingerprint_sha256": self.fingerprint,
                "subject": self.subject, "not_before": iso(self.not_before), "not_after": iso(self.not_after),
                "created": iso(self.created), "chain_length": self.chain_length, "key_location": self.key_location}


def _record(row: Any) -> IdentityRecord:
    cert = x509.load_der_x509_certificate(row.certificate)
    return IdentityRecord(row.id, row.address, row.usage, row.fingerprint, name_text(cert.subject),
                          row.not_before, row.not_after, row.created, len(row.chain), row.key_location or "store")


class KeyStore:
    """Identities in a store. Reading keys needs the passphrase (keys on a PKCS#11 token need the token's PIN
    instead); listing does not. ``pkcs11`` is the ``[pkcs11]`` settings table for token identities."""

    def __init__(self, store: Store, passphrase: bytes | Callable[[], bytes] | None = None,
                 scrypt: dict[str, int] | None = None, pkcs11: TokenSettings | None = None) -> None:
        self.store = store
        self._passphrase = passphrase
        self._scrypt = scrypt
        self._kek: KeyEncryptionKey | None = None
        self._pkcs11 = pkcs11 or TokenSettings()

    @property
    def token_settings(self) -> TokenSettings:
        """The ``[pkcs11]`` settings token identities are opened with."""
        return self._pkcs11

    def unlock(self) -> None:
        """Derive the key-encryption key now: a wrong passphrase fails here rather than at first use."""
        self._key()

    def _key(self, params: dict[str, Any] | None = None) -> KeyEncryptionKey:
        if self._kek is None:
            source = self._passphrase
            secret = source() if callable(source) else source if source is not None else resolve_passphrase()
            self._kek = KeyEncryptionKey.unlock(self.store, secret, self._scrypt, params)
        return self._kek

    def add(self, identity: Identity, usage: str | None = None, address: str | None = None,
            actor: str | None = None) -> list[int]:
        """Store an identity (one row per address of its certificate, or only ``address``); returns the row ids.
        ``usage`` defaults to what the certificate allows (see ``certificate_usage``), and one it does not allow is
        refused. An identity whose key is on a token is filed by its location (see ``add_token_identity``)."""
        usage = certificate_usage(identity.certificate, usage)
        if isinstance(identity.private_key, TokenKey):
            return self.add_token_identity(identity, usage, address, actor)
        fp = fingerprint(identity.certificate)
        pkcs8 = identity.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption())
        sealed = self._key().seal(pkcs8, _aad(fp))
        return self._add_rows(identity, usage, address, actor, encrypted_key=sealed)

    def add_token_identity(self, identity: Identity, usage: str | None = None, address: str | None = None,
                           actor: str | None = None) -> list[int]:
        """Store an identity whose private key is on a PKCS#11 token: the rows keep the key's URI (RFC 7512; the
        module path only when it was given in the URI; never a PIN), never the key. No store passphrase is needed."""
        key = identity.private_key
        if not isinstance(key, TokenKey):
            raise UsageError("the identity's key is not on a PKCS#11 token: use add()")
        return self._add_rows(identity, usage, address, actor, key_location=str(key.uri))

    def _add_rows(self, identity: Identity, usage: str | None, address: str | None, actor: str | None, *,
                  encrypted_key: bytes | None = None, key_location: str | None = None) -> list[int]:
        cert = identity.certificate
        usage = certificate_usage(cert, usage)
        addresses = [normalize_address(a) for a in certificate_emails(cert)]
        if address is not None:
            wanted = normalize_address(address)
            if wanted not in addresses:
                raise UsageError(f"{address} is not an address of the certificate")
            addresses = [wanted]
        if not addresses:
            raise UsageError("the certificate carries no e-mail address: nothing to file the identity under")
        fp = fingerprint(cert)
        ids: list[int] = []
        try:
            with self.store.session() as session:
                for addr in dict.fromkeys(addresses):
                    row_id = session.execute(insert(identities).values(
                        address=addr, usage=usage, fingerprint=fp,
                        certificate=cert.public_bytes(serialization.Encoding.DER),
                        chain=[base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                               for c in identity.chain],
                        encrypted_key=encrypted_key, key_location=key_location,
                        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc, created=utcnow(),
                    ).returning(_ID.id)).scalar_one()
                    ids.append(row_id)
                    detail: dict[str, Any] = {"fingerprint": fp, "usage": usage, "id": row_id}
                    if key_location is not None:
                        detail["key_location"] = key_location
                    audit.record(session, "keys.import", addr, detail, actor)
        except IntegrityError:
            raise UsageError(f"the identity {fp[:16]}... is already in the key store") from None
        return ids

    def identities_for_recipients(self, recipients: Sequence[RecipientIdentifier],
                                  address: str | None = None) -> list[IdentityRecord]:
        """The identities (of ``address`` only, when given) whose certificate one of ``recipients`` names, by
        issuer and serial number or by subjectKeyIdentifier (stored or computed from the stored certificate), as
        gpgsm finds the secret key for a message in its keybox. In the order of ``recipients``, then newest first;
        one row per address a certificate is filed under. Neither validity nor usage narrows the search: mail
        encrypted to a certificate that has since expired must still open. Reading certificates needs no
        passphrase, so no key is unsealed here."""
        if not recipients:
            return []
        serials = {r.serial for r in recipients if r.serial is not None}
        keyed = any(r.subject_key_identifier is not None for r in recipients)
        query = select(identities).order_by(_ID.not_before.desc(), _ID.id.desc())
        if address is not None:
            query = query.where(_ID.address == normalize_address(address))
        found: list[tuple[int, IdentityRecord]] = []
        with self.store.lookup() as conn:
            rows = list(conn.execute(query))
        for row in rows:
            cert = x509.load_der_x509_certificate(row.certificate)
            if cert.serial_number not in serials and not keyed:
                continue  # the cheap test first: most identities of a store are not recipients of a message
            rank = next((i for i, r in enumerate(recipients) if r.matches(cert)), None)
            if rank is not None:
                found.append((rank, _record(row)))
        return [record for _, record in sorted(found, key=lambda item: item[0])]

    def certificates(self) -> list[tuple[IdentityRecord, x509.Certificate, tuple[x509.Certificate, ...]]]:
        """Every identity with its certificate and stored chain, in the order of ``list()``; no key is read, so no
        passphrase is needed (what certificate publishing exports)."""
        query = select(identities).order_by(_ID.address, _ID.not_before.desc(), _ID.id)
        with self.store.lookup() as conn:
            rows = list(conn.execute(query))
        return [(_record(r), x509.load_der_x509_certificate(r.certificate),
                 tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in r.chain)) for r in rows]

    def list(self, address: str | None = None) -> list[IdentityRecord]:
        query = select(identities).order_by(_ID.address, _ID.not_before.desc(), _ID.id)
        if address is not None:
            query = query.where(_ID.address == normalize_address(address))
        with self.store.lookup() as conn:
            return [_record(r) for r in conn.execute(query)]

    def _row(self, identity_id: int) -> Any:
        with self.store.lookup() as conn:
            return conn.execute(select(identities).where(_ID.id == identity_id)).first()

    def _load(self, row: Any, params: dict[str, Any] | None = None) -> Identity:
        cert = x509.load_der_x509_certificate(row.certificate)
        chain = tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in row.chain)
        if row.key_location is not None:
            from ..cms.token import open_key

            # Identity() checks that the token's key still belongs to the stored certificate.
            key: Any = open_key(row.key_location, cert.public_key(), self._pkcs11)[0]
            return Identity(key, cert, chain)
        if row.encrypted_key is None:
            raise WrongPasswordError("the stored identity has neither a key nor a key location")
        key = load_private_key(self._key(params).open(row.encrypted_key, _aad(fingerprint(cert))))
        return Identity(key, cert, chain)

    def get(self, identity_id: int) -> Identity:
        row = self._row(identity_id)
        if row is None:
            raise UsageError(f"no identity with id {identity_id}")
        return self._load(row)

    def identity_for(self, address: str, usage: str = "sign", at: datetime | None = None) -> Identity:
        """The newest identity valid at ``at`` (default now) for ``address`` that can do ``usage``."""
        row, params = self._newest(address, usage, at, unsealing=True)
        return self._load(row, params)

    def certificate_for(self, address: str, usage: str = "encrypt", at: datetime | None = None
                        ) -> x509.Certificate:
        """The certificate of ``identity_for(address, usage, at)``, without opening its key (no passphrase)."""
        return x509.load_der_x509_certificate(self._newest(address, usage, at)[0].certificate)

    def _newest(self, address: str, usage: str, at: datetime | None, *, unsealing: bool = False
                ) -> tuple[Any, dict[str, Any] | None]:
        """The identity's row and, when ``unsealing`` a key of the store with no KEK derived yet, the KDF
        settings that derive it, read in the same visit to the database."""
        if usage not in ("sign", "encrypt"):
            raise UsageError("usage must be sign or encrypt")
        values = {"address": normalize_address(address), "usage": usage, "at": at or datetime.now(UTC)}
        with self.store.lookup() as conn:
            row = conn.execute(_IDENTITY_FOR, values).first()
            params = kdf_params(conn) if (unsealing and row is not None and row.encrypted_key is not None
                                          and self._kek is None) else None
        if row is None:
            raise UsageError(f"no valid {usage} identity for {address} in the key store")
        return row, params

    def remove(self, target: str, actor: str | None = None) -> int:
        """Remove by row id or by address (every identity of it); returns how many were removed."""
        with self.store.session() as session:
            cond = _ID.id == int(target) if target.isdigit() else _ID.address == normalize_address(target)
            rows = list(session.execute(select(_ID.id, _ID.address, _ID.fingerprint).where(cond)))
            for row in rows:
                audit.record(session, "keys.remove", row.address, {"fingerprint": row.fingerprint, "id": row.id},
                             actor)
            session.execute(delete(identities).where(cond))
        if not rows:
            raise UsageError(f"no identity matches {target}")
        return len(rows)

    def export_pkcs12(self, identity_id: int, password: str | bytes, actor: str | None = None) -> bytes:
        """The identity as PKCS#12 under ``password`` (str as UTF-8, or bytes); refused unless
        ``$MAILSEAL_ALLOW_KEY_EXPORT=1``."""
        from ..cms.identity import password_bytes

        password = password_bytes(password) or b""
        if os.environ.get(EXPORT_ENV) != "1":
            raise UsageError(f"key export is disabled: set {EXPORT_ENV}=1 to allow it")
        if not password:
            raise UsageError("an export password is required (--pass)")
        from cryptography.hazmat.primitives.serialization import pkcs12

        row = self._row(identity_id)
        if row is not None and row.key_location is not None:
            raise TokenError(f"identity {identity_id} has its key on a PKCS#11 token: it cannot be exported")
        ident = self.get(identity_id)
        data = pkcs12.serialize_key_and_certificates(
            None, ident.private_key, ident.certificate, list(ident.chain) or None,  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(password))
        with self.store.session() as session:
            audit.record(session, "keys.export", str(identity_id), {"fingerprint": fingerprint(ident.certificate)},
                         actor)
        return data


__all__ = ["EXPORT_ENV", "KEYFILE_ENV", "PASSPHRASE_ENV", "USAGES", "IdentityRecord", "KeyEncryptionKey", "KeyStore",
           "Usage", "kdf_params", "resolve_passphrase"]

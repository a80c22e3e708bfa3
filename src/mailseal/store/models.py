"""The store's tables as SQLAlchemy 2 typed ORM classes: identities, recipient certificates, trust, audit log,
submission accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone: store naive UTC, give back aware)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: pass an aware (UTC) datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Setting(Base):
    """Store-wide values: the key-encryption key's scrypt salt, parameters and verifier."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()


#: Exactly one of encrypted_key (the key is in the store) and key_location (the key is on a token) is set.
IDENTITY_KEY_CHECK = "(encrypted_key IS NULL) <> (key_location IS NULL)"


class IdentityRow(Base):
    """A private key (encrypted, AES-256-GCM, or a PKCS#11 URI where it lives) with its certificate and chain,
    for one address and usage."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("address", "fingerprint", name="uq_identity_address_fingerprint"),
        Index("ix_identities_address_usage", "address", "usage"),
        CheckConstraint(IDENTITY_KEY_CHECK, name="ck_identity_key_location"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320))
    usage: Mapped[str] = mapped_column(String(8))  # sign | encrypt | dual
    fingerprint: Mapped[str] = mapped_column(String(64))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    chain: Mapped[list[str]] = mapped_column()  # base64 DER, issuer first
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # None: the key is on a token
    key_location: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # RFC 7512 URI, never a PIN
    not_before: Mapped[datetime] = mapped_column()
    not_after: Mapped[datetime] = mapped_column()
    created: Mapped[datetime] = mapped_column(default=utcnow)


class RecipientCertificate(Base):
    """A correspondent's certificate for one of its addresses, with where it came from and what it advertised."""

    __tablename__ = "recipient_certificates"
    __table_args__ = (
        UniqueConstraint("address", "fingerprint", name="uq_recipient_address_fingerprint"),
        Index("ix_recipient_fingerprint", "fingerprint"),
        Index("ix_recipient_not_after", "not_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320))  # normalize_address (RFC 8550 §3)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the DER, hex
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16))  # imported | harvested | ldap | smimea | ca
    not_before: Mapped[datetime] = mapped_column()
    not_after: Mapped[datetime] = mapped_column()
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    capabilities: Mapped[list[str] | None] = mapped_column(nullable=True)  # dotted OIDs, in advertised order
    capabilities_time: Mapped[datetime | None] = mapped_column(nullable=True)


class TrustCertificate(Base):
    """A trust anchor or an intermediate kept in the database (shared by several nodes)."""

    __tablename__ = "trust_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # anchor | intermediate
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    added: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One change to the store: who, what, on which subject, with details."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_time", "time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column()


class SubmissionUser(Base):
    """An SMTP submission account (SMTP AUTH, RFC 4954): a scrypt password hash and the addresses it may send as."""

    __tablename__ = "submission_users"
    __table_args__ = (UniqueConstraint("username", name="uq_submission_users_username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Compared exactly (case-sensitive) on both backends: SQLite's default BINARY collation, PostgreSQL's varchar.
    username: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))  # scrypt$N$r$p$salt_b64$hash_b64, never the password
    addresses: Mapped[list[str]] = mapped_column()  # normalize_address (RFC 8550 §3)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(nullable=True)


__all__ = ["IDENTITY_KEY_CHECK", "AuditEvent", "Base", "IdentityRow", "RecipientCertificate", "Setting",
           "SubmissionUser", "TrustCertificate", "utcnow"]

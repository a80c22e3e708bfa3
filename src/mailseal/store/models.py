"""The store's tables as SQLAlchemy 2 typed ORM classes: identities, recipient certificates, trust, audit log,
submission accounts.

The columns are defined once, as Core tables in ``tables``; these classes map onto them (declarative with an
imperative table) for the code that writes through ORM sessions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from . import tables
from .tables import IDENTITY_KEY_CHECK, UTCDateTime, utcnow


class Base(DeclarativeBase):
    metadata = tables.metadata


class Setting(Base):
    """Store-wide values: the key-encryption key's scrypt salt, parameters and verifier."""

    __table__ = tables.settings

    name: Mapped[str]
    value: Mapped[dict[str, Any]]


class IdentityRow(Base):
    """A private key (encrypted, AES-256-GCM, or a PKCS#11 URI where it lives) with its certificate and chain,
    for one address and usage."""

    __table__ = tables.identities

    id: Mapped[int]
    address: Mapped[str]
    usage: Mapped[str]
    fingerprint: Mapped[str]
    certificate: Mapped[bytes]
    chain: Mapped[list[str]]
    encrypted_key: Mapped[bytes | None]
    key_location: Mapped[str | None]
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    created: Mapped[datetime]


class RecipientCertificate(Base):
    """A correspondent's certificate for one of its addresses, with where it came from and what it advertised."""

    __table__ = tables.recipient_certificates

    id: Mapped[int]
    address: Mapped[str]
    fingerprint: Mapped[str]
    certificate: Mapped[bytes]
    source: Mapped[str]
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    capabilities: Mapped[list[str] | None]
    capabilities_time: Mapped[datetime | None]


class TrustCertificate(Base):
    """A trust anchor or an intermediate kept in the database (shared by several nodes)."""

    __table__ = tables.trust_certificates

    id: Mapped[int]
    fingerprint: Mapped[str]
    kind: Mapped[str]
    certificate: Mapped[bytes]
    added: Mapped[datetime]


class AuditEvent(Base):
    """One change to the store: who, what, on which subject, with details."""

    __table__ = tables.audit_log

    id: Mapped[int]
    time: Mapped[datetime]
    actor: Mapped[str]
    action: Mapped[str]
    subject: Mapped[str]
    detail: Mapped[dict[str, Any]]


class SubmissionUser(Base):
    """An SMTP submission account (SMTP AUTH, RFC 4954): a scrypt password hash and the addresses it may send as."""

    __table__ = tables.submission_users

    id: Mapped[int]
    username: Mapped[str]
    password_hash: Mapped[str]
    addresses: Mapped[list[str]]
    disabled: Mapped[bool]
    created: Mapped[datetime]
    last_login: Mapped[datetime | None]


__all__ = ["IDENTITY_KEY_CHECK", "AuditEvent", "Base", "IdentityRow", "RecipientCertificate", "Setting",
           "SubmissionUser", "TrustCertificate", "UTCDateTime", "utcnow"]

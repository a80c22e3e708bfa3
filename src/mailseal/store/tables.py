"""The store's tables as SQLAlchemy Core ``Table`` objects: identities, recipient certificates, trust, audit log,
submission accounts, settings, and the web console's accounts, sessions and API tokens.

The hot read paths (``keys list``, ``certs find``, a recipient or signer lookup per message) query these tables
with Core statements and never import the ORM, which costs more to import than such a command takes to run;
``models`` maps the ORM classes onto the same tables for the code that writes through sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
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


metadata = MetaData()

#: Exactly one of encrypted_key (the key is in the store) and key_location (the key is on a token) is set.
IDENTITY_KEY_CHECK = "(encrypted_key IS NULL) <> (key_location IS NULL)"

#: Store-wide values: the key-encryption key's scrypt salt, parameters and verifier.
settings = Table(
    "settings", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON(), nullable=False),
)

#: A private key (encrypted, AES-256-GCM, or a PKCS#11 URI where it lives) with its certificate and chain, for one
#: address and usage.
identities = Table(
    "identities", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(320), nullable=False),
    Column("usage", String(8), nullable=False),  # sign | encrypt | dual
    Column("fingerprint", String(64), nullable=False),
    Column("certificate", LargeBinary, nullable=False),
    Column("chain", JSON(), nullable=False),  # base64 DER, issuer first
    Column("encrypted_key", LargeBinary, nullable=True),  # None: the key is on a token
    Column("key_location", String(1024), nullable=True),  # RFC 7512 URI, never a PIN
    Column("not_before", UTCDateTime(), nullable=False),
    Column("not_after", UTCDateTime(), nullable=False),
    Column("created", UTCDateTime(), nullable=False, default=utcnow),
    UniqueConstraint("address", "fingerprint", name="uq_identity_address_fingerprint"),
    Index("ix_identities_address_usage", "address", "usage"),
    CheckConstraint(IDENTITY_KEY_CHECK, name="ck_identity_key_location"),
)

#: A correspondent's certificate for one of its addresses, with where it came from and what it advertised.
recipient_certificates = Table(
    "recipient_certificates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(320), nullable=False),  # normalize_address (RFC 8550 §3)
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the DER, hex
    Column("certificate", LargeBinary, nullable=False),
    Column("source", String(16), nullable=False),  # imported | harvested | ldap | smimea | ca
    Column("not_before", UTCDateTime(), nullable=False),
    Column("not_after", UTCDateTime(), nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("capabilities", JSON(), nullable=True),  # dotted OIDs, in advertised order
    Column("capabilities_time", UTCDateTime(), nullable=True),
    UniqueConstraint("address", "fingerprint", name="uq_recipient_address_fingerprint"),
    Index("ix_recipient_fingerprint", "fingerprint"),
    Index("ix_recipient_not_after", "not_after"),
)

#: A trust anchor or an intermediate kept in the database (shared by several nodes).
trust_certificates = Table(
    "trust_certificates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # anchor | intermediate
    Column("certificate", LargeBinary, nullable=False),
    Column("added", UTCDateTime(), nullable=False, default=utcnow),
)

#: One change to the store: who, what, on which subject, with details.
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", UTCDateTime(), nullable=False, default=utcnow),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("detail", JSON(), nullable=False),
    Index("ix_audit_time", "time"),
)

#: An SMTP submission account (SMTP AUTH, RFC 4954): a scrypt password hash and the addresses it may send as.
submission_users = Table(
    "submission_users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Compared exactly (case-sensitive) on both backends: SQLite's default BINARY collation, PostgreSQL's varchar.
    Column("username", String(255), nullable=False),
    Column("password_hash", String(255), nullable=False),  # scrypt$N$r$p$salt_b64$hash_b64, never the password
    Column("addresses", JSON(), nullable=False),  # normalize_address (RFC 8550 §3)
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created", UTCDateTime(), nullable=False, default=utcnow),
    Column("last_login", UTCDateTime(), nullable=True),
    UniqueConstraint("username", name="uq_submission_users_username"),
)

#: A certificate the internal CA issued (``mailseal ca``), by the CA's certificate fingerprint and the serial.
ca_certificates = Table(
    "ca_certificates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ca", String(64), nullable=False),  # SHA-256 fingerprint of the issuing CA's certificate
    Column("serial", String(64), nullable=False),  # lower-case hexadecimal, no leading zeros
    Column("email", String(320), nullable=False),
    Column("usage", String(16), nullable=False),
    Column("key_type", String(16), nullable=False),
    Column("not_before", UTCDateTime(), nullable=False),
    Column("not_after", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("reason", String(64), nullable=True),
    Column("certificate", LargeBinary, nullable=False),
    UniqueConstraint("ca", "serial", name="uq_ca_certificates_serial"),
    Index("ix_ca_certificates_email", "ca", "email"),
)

#: The number of the last CRL each CA signed (RFC 5280 §5.2.3: it only grows).
ca_crl_numbers = Table(
    "ca_crl_numbers", metadata,
    Column("ca", String(64), primary_key=True),
    Column("number", Integer, nullable=False),
)

#: A console account (docs/web.md): an argon2id password hash, a role, a TOTP secret sealed with the console key,
#: and the failed-login counter that locks it for a while (kept here so that the lock holds on every node).
console_admins = Table(
    "console_admins", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("password_hash", String(255), nullable=False),  # argon2id PHC string, never the password
    Column("role", String(16), nullable=False),  # admin | auditor
    Column("totp_sealed", LargeBinary, nullable=True),  # AES-256-GCM under the console key; None: not enrolled
    Column("totp_confirmed", Boolean, nullable=False, default=False),
    Column("totp_last_step", Integer, nullable=True),  # the last accepted 30 s step: a code works once
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("created", UTCDateTime(), nullable=False, default=utcnow),
    Column("last_login", UTCDateTime(), nullable=True),
    UniqueConstraint("name", name="uq_console_admins_name"),
)

#: A console session: only the SHA-256 of its random id is kept, so a copy of the database opens no session.
web_sessions = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("stage", String(16), nullable=False),  # password (second factor still due) | ok
    Column("csrf", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("reauth", UTCDateTime(), nullable=True),
    # A WebAuthn challenge waiting for its answer ("purpose:base64url"), used once, until challenge_expires.
    Column("challenge", String(128), nullable=True),
    Column("challenge_expires", UTCDateTime(), nullable=True),
    Index("ix_web_sessions_account", "account"),
)

#: A security key (WebAuthn credential) registered as a console account's second factor: its id (base64url), its
#: COSE public key and the signature counter it last reported (a clone shows itself by a counter that goes back).
webauthn_credentials = Table(
    "webauthn_credentials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("credential_id", String(1400), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),  # unsigned 32-bit in the authenticator data
    Column("transports", String(128), nullable=False),  # comma-separated hints: usb, nfc, ble, internal, hybrid
    Column("label", String(64), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_used", UTCDateTime(), nullable=True),
    UniqueConstraint("credential_id", name="uq_webauthn_credentials_id"),
    Index("ix_webauthn_credentials_account", "account"),
)

#: A bearer token for scripts using the REST API: only its SHA-256 is kept; ``read`` or ``admin``; revocable.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False),
    Column("label", String(128), nullable=False),
    Column("account", String(64), nullable=False),
    Column("scope", String(8), nullable=False),  # read | admin
    Column("created", UTCDateTime(), nullable=False),
    Column("last_used", UTCDateTime(), nullable=True),
    Column("revoked", UTCDateTime(), nullable=True),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
)

#: A message deposited in the recipient portal (docs/portal.md). The message is sealed with AES-256-GCM under a
#: fresh key per message (``nonce``, ``ciphertext``), that key wrapped (RFC 3394) by the portal key ``portal.key``;
#: a purge sets all three to NULL. The id is 128 random bits (hex); ``expires`` NULL: never.
portal_messages = Table(
    "portal_messages", metadata,
    Column("id", String(32), primary_key=True),
    Column("sender", String(320), nullable=False),
    Column("brand", String(253), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("expires", UTCDateTime(), nullable=True),
    Column("state", String(16), nullable=False),  # active | revoked | purged ("expired" is computed from expires)
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_note", String(255), nullable=True),
    Column("proof", String(16), nullable=False),  # passcode | password | account
    Column("password_hash", String(255), nullable=True),  # argon2id PHC string when proof = password
    Column("read_receipt", Boolean, nullable=False),
    Column("size", Integer, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("nonce", LargeBinary, nullable=True),
    Column("ciphertext", LargeBinary, nullable=True),
    # SHA-256 of the received message, envelope sender and portal recipients: a retried transaction finds its
    # deposit (unique: two nodes cannot both deposit it; released when the message leaves the retry window)
    Column("digest", String(64), nullable=True),
    Index("ix_portal_messages_sender", "sender"),
    Index("ix_portal_messages_digest", "digest", unique=True),
    Index("ix_portal_messages_expires", "expires"),
)

#: A recipient of a portal message: only the SHA-256 of the link token is kept; ``reads`` counts openings.
portal_recipients = Table(
    "portal_recipients", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), ForeignKey("portal_messages.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(320), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("bcc", Boolean, nullable=False),
    Column("reads", Integer, nullable=False),
    Column("first_read", UTCDateTime(), nullable=True),
    Column("last_read", UTCDateTime(), nullable=True),
    Column("notified", UTCDateTime(), nullable=True),  # when the next hop accepted the recipient's notification
    # A node sending the notification right now holds it until ``notifying_until`` (a crashed node's lease lapses):
    # two nodes retrying the same transaction at once do not both send the recipient a link.
    Column("notifying_by", String(64), nullable=True),
    Column("notifying_until", UTCDateTime(), nullable=True),
    UniqueConstraint("token_hash", name="uq_portal_recipients_token"),
    UniqueConstraint("message_id", "address", name="uq_portal_recipients_address"),
    Index("ix_portal_recipients_address", "address"),
)

#: A one-time passcode: an HMAC of the code (under a key derived from the portal key), bound to the message, the
#: recipient and the browser (``binding_hash``); ``tries`` counts wrong codes, ``used`` is set by the right one.
portal_passcodes = Table(
    "portal_passcodes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), ForeignKey("portal_messages.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(320), nullable=False),
    Column("binding_hash", String(64), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("reference", String(16), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("expires", UTCDateTime(), nullable=False),
    Column("tries", Integer, nullable=False),
    Column("used", UTCDateTime(), nullable=True),
    Index("ix_portal_passcodes_recipient", "message_id", "address"),
)

#: A portal session (a recipient who proved control of the address): only the SHA-256 of its random id is kept.
portal_sessions = Table(
    "portal_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("address", String(320), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    # What opened it: passcode (a mailed code: the mailbox) | account (password + TOTP); None: passcode (before 0010)
    Column("proof", String(16), nullable=True),
    Index("ix_portal_sessions_address", "address"),
)

#: A portal account (proof = "account"): a recipient who reads with a password and a TOTP code instead of a mailed
#: code. ``password_hash`` None: not enrolled (yet, or reset): the next visit proves the mailbox and enrols again.
portal_accounts = Table(
    "portal_accounts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(320), nullable=False),
    Column("password_hash", String(255), nullable=True),  # argon2id PHC string, never the password
    Column("totp_sealed", LargeBinary, nullable=True),  # AES-256-GCM under a key derived from the portal key
    Column("totp_confirmed", Boolean, nullable=False, default=False),
    Column("totp_last_step", Integer, nullable=True),  # the last accepted 30 s step: a code works once
    Column("failed", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_sign_in", UTCDateTime(), nullable=True),
    UniqueConstraint("address", name="uq_portal_accounts_address"),
)

#: Fixed-window counters shared by every node: one row per key (``portal-ip:ADDR``, ``login:ADDR``, ...) and window.
rate_limits = Table(
    "rate_limits", metadata,
    Column("key", String(255), primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: A reply written in the portal, sealed like the message (its own key, wrapped by the portal key).
portal_replies = Table(
    "portal_replies", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), ForeignKey("portal_messages.id", ondelete="CASCADE"), nullable=False),
    Column("author", String(320), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("nonce", LargeBinary, nullable=True),
    Column("ciphertext", LargeBinary, nullable=True),
    Index("ix_portal_replies_message", "message_id"),
)

#: Mail the portal has to send (notification | passcode | reply | receipt | password), sealed, drained by any gateway node:
#: ``queued`` -> ``sending`` (claimed by a node until ``claimed_until``) -> ``sent`` | ``failed``.
portal_outbox = Table(
    "portal_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("message_id", String(32), nullable=True),
    Column("envelope_from", String(320), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("nonce", LargeBinary, nullable=True),
    Column("ciphertext", LargeBinary, nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("created", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("last_error", String(255), nullable=True),
    Index("ix_portal_outbox_state", "state"),
)

#: What each gateway node said of itself at its last heartbeat (gateway/heartbeat.py): the console's dashboard
#: reads every node's here, so that nothing it shows lives in one process's memory.
gateway_nodes = Table(
    "gateway_nodes", metadata,
    Column("name", String(64), primary_key=True),
    Column("version", String(32), nullable=False),
    Column("listen", String(64), nullable=False),
    Column("started", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("interval_seconds", Integer, nullable=False),
    Column("next_hop", String(128), nullable=True),
    Column("next_hop_ok", Boolean, nullable=True),
    Column("next_hop_detail", String(255), nullable=True),
    Column("connections", Integer, nullable=False),
    Column("in_flight", Integer, nullable=False),
    Column("waiting", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("refused", Integer, nullable=False),
    Column("deferred", Integer, nullable=False),
)

__all__ = ["IDENTITY_KEY_CHECK", "UTCDateTime", "api_tokens", "audit_log", "ca_certificates", "ca_crl_numbers",
           "console_admins", "gateway_nodes", "identities", "metadata", "portal_accounts", "portal_messages", "portal_outbox", "portal_passcodes",
           "portal_recipients", "portal_replies", "portal_sessions", "rate_limits", "recipient_certificates",
           "settings", "submission_users", "trust_certificates", "utcnow", "web_sessions",
           "webauthn_credentials"]

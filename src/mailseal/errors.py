"""One exception tree for mailseal: every error carries a stable machine-readable code and a human sentence."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable codes printed as ``error[CODE]`` by the CLI and used in JSON reports."""

    USAGE = "usage"
    MALFORMED_INPUT = "malformed-input"
    MALFORMED_MIME = "malformed-mime"
    MALFORMED_CMS = "malformed-cms"
    MALFORMED_CERTIFICATE = "malformed-certificate"
    MALFORMED_KEY = "malformed-key"
    WRONG_PASSWORD = "wrong-password"
    PASSWORD_NEEDED = "password-needed"
    KEY_CERT_MISMATCH = "key-certificate-mismatch"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    NOT_ENCRYPTED = "not-encrypted"
    NOT_SIGNED = "not-signed"
    NO_MATCHING_RECIPIENT = "no-matching-recipient"
    DECRYPTION_FAILED = "decryption-failed"
    RECIPIENT_UNSUITABLE = "recipient-unsuitable"
    SIGNER_UNSUITABLE = "signer-unsuitable"
    FROM_MISMATCH = "from-mismatch"
    LIMIT_EXCEEDED = "limit-exceeded"
    VERIFICATION_FAILED = "verification-failed"
    IO = "io"
    CONFIGURATION = "configuration"
    POLICY_REFUSED = "policy-refused"
    TOKEN = "token"
    SCHEMA_MISMATCH = "schema-mismatch"
    ARCHIVE_INVALID = "archive-invalid"
    TEMPORARY_FAILURE = "temporary-failure"
    DELIVERY_FAILED = "delivery-failed"
    PORTAL = "portal"
    SECURITY_KEY = "security-key"


class MailsealError(Exception):
    """Root of every error mailseal raises on purpose."""

    code: ErrorCode = ErrorCode.MALFORMED_INPUT

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Callable[..., MailsealError], tuple[type[MailsealError], str, dict[str, Any]]]:
        # Pickle rebuilds an exception from its constructor arguments by default, which loses a code given to
        # the constructor and the fields of subclasses with their own (a gateway worker process hands its errors
        # back this way, and the SMTP reply depends on them): the instance's state is restored instead.
        return _restore, (type(self), self.message, dict(self.__dict__))


def _restore(cls: type[MailsealError], message: str, state: dict[str, Any]) -> MailsealError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class UsageError(MailsealError):
    """The caller asked for something contradictory or incomplete."""

    code = ErrorCode.USAGE


class MalformedInputError(MailsealError):
    """Input that cannot be parsed: not MIME, not CMS, truncated, garbage."""

    code = ErrorCode.MALFORMED_INPUT


class MalformedCMSError(MalformedInputError):
    """A CMS (PKCS#7) structure that is not valid BER/DER or breaks RFC 5652."""

    code = ErrorCode.MALFORMED_CMS


class MalformedMIMEError(MalformedInputError):
    """A MIME entity that breaks RFC 2045/2046/8551 in a way that stops processing."""

    code = ErrorCode.MALFORMED_MIME


class CertificateUsageError(UsageError):
    """The certificate's keyUsage / extendedKeyUsage does not allow the usage an identity is filed for."""


class CertificateError(MailsealError):
    """A certificate could not be read."""

    code = ErrorCode.MALFORMED_CERTIFICATE


class PrivateKeyError(MailsealError):
    """A private key could not be read, or does not belong to the certificate."""

    code = ErrorCode.MALFORMED_KEY


class WrongPasswordError(PrivateKeyError):
    """The password for a private key or PKCS#12 file is wrong (or, as PasswordNeededError, missing)."""

    code = ErrorCode.WRONG_PASSWORD


class PasswordNeededError(WrongPasswordError):
    """A private key or PKCS#12 file is protected and no password was given: a different fact from a wrong one
    (the caller may ask for it), so it has its own code; ``except WrongPasswordError`` still catches it."""

    code = ErrorCode.PASSWORD_NEEDED


class KeyCertificateMismatchError(PrivateKeyError):
    """The private key does not belong to the certificate given with it."""

    code = ErrorCode.KEY_CERT_MISMATCH


class UnsupportedAlgorithmError(MailsealError):
    """An algorithm that mailseal does not implement or refuses (MD5, RC2, an unknown OID)."""

    code = ErrorCode.UNSUPPORTED_ALGORITHM


class NotEncryptedError(MailsealError):
    """Decryption was asked for a message that carries no enveloped layer."""

    code = ErrorCode.NOT_ENCRYPTED


class NoMatchingRecipientError(MailsealError):
    """None of the message's RecipientInfos names one of the identities given."""

    code = ErrorCode.NO_MATCHING_RECIPIENT


class DecryptionError(MailsealError):
    """Decryption failed. Deliberately opaque: wrong key, bad padding and a bad tag look the same (no oracle)."""

    code = ErrorCode.DECRYPTION_FAILED

    def __init__(self, message: str = "the message could not be decrypted with the key given") -> None:
        super().__init__(message)


class RecipientError(MailsealError):
    """A recipient certificate that may not be used for encryption."""

    code = ErrorCode.RECIPIENT_UNSUITABLE


class SignerError(MailsealError):
    """A signing identity that may not be used for signing."""

    code = ErrorCode.SIGNER_UNSUITABLE


class FromMismatchError(SignerError):
    """Signing a message whose From addresses are not all the signer certificate's (RFC 8550 §3): every reader
    would flag the signature. ``from_addresses`` is empty for a message without From."""

    code = ErrorCode.FROM_MISMATCH

    def __init__(self, message: str, from_addresses: tuple[str, ...], certificate_addresses: tuple[str, ...]) -> None:
        super().__init__(message)
        self.from_addresses = from_addresses
        self.certificate_addresses = certificate_addresses


class LimitExceededError(MalformedInputError):
    """Input exceeds a safety limit (nesting depth, signers, recipients, certificates, size)."""

    code = ErrorCode.LIMIT_EXCEEDED


class TimeLimitExceededError(LimitExceededError):
    """The work on one message took longer than ``limits.message_seconds``. The machine's load counts as much as
    the message, so the gateway defers it (4xx: the sender tries again) rather than refusing it for good."""


class ConfigurationError(UsageError):
    """A settings file (gateway, policy, lookup) that is invalid: names the table and key at fault."""

    code = ErrorCode.CONFIGURATION


class PolicyRefusal(MailsealError):
    """The administrator's policy refuses the message (e.g. encryption required and a recipient has no certificate)."""

    code = ErrorCode.POLICY_REFUSED


class TemporaryError(MailsealError):
    """A condition that may pass by itself: a nameserver, directory or database that did not answer, a key
    removed between the policy's decision and its use. The gateway answers 4xx (the sender retries); never a
    reason to refuse a message for good."""

    code = ErrorCode.TEMPORARY_FAILURE


class PortalError(MailsealError):
    """A portal message that does not exist, or that cannot be read, extended or answered in its state (revoked,
    expired, purged); the sentence says which, for the administrator (the portal's pages show their own)."""

    code = ErrorCode.PORTAL


class SecurityKeyError(MailsealError):
    """A security key's (WebAuthn) answer was refused: a challenge that is not the pending one (used, expired or
    never given), another origin or relying party, a signature that does not verify, a signature counter that did
    not go up (a cloned key), or a key that is not the account's. The console shows one sentence for all."""

    code = ErrorCode.SECURITY_KEY


class TokenError(PrivateKeyError):
    """A PKCS#11 token could not be opened, logged into, or refused an operation."""

    code = ErrorCode.TOKEN


__all__ = [
    "CertificateError",
    "ConfigurationError",
    "DecryptionError",
    "ErrorCode",
    "FromMismatchError",
    "KeyCertificateMismatchError",
    "LimitExceededError",
    "MailsealError",
    "MalformedCMSError",
    "MalformedInputError",
    "MalformedMIMEError",
    "NoMatchingRecipientError",
    "NotEncryptedError",
    "PasswordNeededError",
    "PolicyRefusal",
    "PortalError",
    "PrivateKeyError",
    "RecipientError",
    "SecurityKeyError",
    "SignerError",
    "TemporaryError",
    "TimeLimitExceededError",
    "TokenError",
    "UnsupportedAlgorithmError",
    "UsageError",
    "WrongPasswordError",
]

"""The status vocabulary of a signature: what a signer is judged to be, and what a message is (RFC 8551 §2.5)."""

from __future__ import annotations

from enum import StrEnum


class SignerStatus(StrEnum):
    """A signer's status, listed worst first: a message's status is the worst of its signers' (``STATUS_ORDER``).

    One vocabulary for every layer. ``pki.validation`` gives a certificate path one of the path statuses
    (``valid``, ``untrusted``, ``expired``, ``not-yet-valid``, ``revoked``, ``revocation-unknown``,
    ``weak-algorithm``); ``mime.judgement`` adds the ones only a signature can have (``invalid-signature``,
    ``unknown-signer``, ``usage-not-allowed``, ``address-mismatch``). ``NOT_SIGNED`` is the status of a message
    that no signature covers; it is never a signer's.

    A ``StrEnum``: each member equals its string (``SignerStatus.VALID == "valid"``) and prints as it, so JSON
    reports, the CLI text and the gateway's stamps read the same as bare strings.
    """

    INVALID_SIGNATURE = "invalid-signature"
    UNKNOWN_SIGNER = "unknown-signer"
    #: The signature's algorithm cannot be checked here (SLH-DSA) or is out of profile (HashML-DSA): neither
    #: valid nor shown to be altered.
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    REVOKED = "revoked"
    USAGE_NOT_ALLOWED = "usage-not-allowed"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    UNTRUSTED = "untrusted"
    REVOCATION_UNKNOWN = "revocation-unknown"
    ADDRESS_MISMATCH = "address-mismatch"
    WEAK_ALGORITHM = "weak-algorithm"
    VALID = "valid"
    NOT_SIGNED = "not-signed"


#: The signer statuses, worst first (every member but the message-level ``NOT_SIGNED``).
STATUS_ORDER: tuple[SignerStatus, ...] = tuple(s for s in SignerStatus if s is not SignerStatus.NOT_SIGNED)

__all__ = ["STATUS_ORDER", "SignerStatus"]

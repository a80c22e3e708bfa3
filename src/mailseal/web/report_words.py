"""The words, icons and tones of signature states on the verify page: never colour alone (WCAG 1.4.1).

The sentences follow the states of Thunderbird's message security dialog (content altered; certificate expired,
revoked, not yet valid; issuer unknown or untrusted; the signer's address differs from the sender's), so that an
administrator reads what a user's mail client would tell them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pki.status import SignerStatus


@dataclass(frozen=True)
class State:
    """A state as shown: ``tone`` picks the CSS class (good, warn, bad, neutral), ``icon`` the drawn symbol
    (check, cross, warning, question, info, lock, unlock), ``word`` what is written beside them."""

    tone: str
    icon: str
    word: str


GOOD = "good"
WARN = "warn"
BAD = "bad"
NEUTRAL = "neutral"

STATUS_STATES: dict[SignerStatus, State] = {
    SignerStatus.VALID: State(GOOD, "check", "Valid"),
    SignerStatus.INVALID_SIGNATURE: State(BAD, "cross", "Invalid: content altered"),
    SignerStatus.UNKNOWN_SIGNER: State(BAD, "cross", "Invalid: unknown signer"),
    SignerStatus.UNSUPPORTED_ALGORITHM: State(WARN, "question", "Not checked: unsupported algorithm"),
    SignerStatus.REVOKED: State(BAD, "cross", "Not valid: certificate revoked"),
    SignerStatus.USAGE_NOT_ALLOWED: State(BAD, "cross", "Not valid: certificate not for e-mail signing"),
    SignerStatus.EXPIRED: State(BAD, "cross", "Not valid: certificate expired"),
    SignerStatus.NOT_YET_VALID: State(BAD, "cross", "Not valid: certificate not yet valid"),
    SignerStatus.UNTRUSTED: State(BAD, "cross", "Not trusted: issuer unknown or untrusted"),
    SignerStatus.REVOCATION_UNKNOWN: State(WARN, "question", "Not valid: revocation unknown"),
    SignerStatus.ADDRESS_MISMATCH: State(WARN, "warning", "Not valid: address mismatch"),
    SignerStatus.WEAK_ALGORITHM: State(WARN, "warning", "Weak: algorithm or key too weak"),
    SignerStatus.NOT_SIGNED: State(NEUTRAL, "info", "Not signed"),
}

VALID_SENTENCE = "This message includes a valid digital signature. The message has not been altered since it was sent."
NOT_SIGNED_SENTENCE = "This message does not include the sender's digital signature."
CONTENT_ALTERED = ("The signature does not match the message content. The message appears to have been altered "
                   "after the sender signed it. Do not trust it until you have checked its contents with the sender.")
EXPIRED = "The certificate used to sign the message appears to have expired."
EXPIRED_CA = ("The certificate used to sign the message was issued by a certification authority whose certificate "
              "has expired.")
NOT_YET_VALID = "The certificate used to sign the message appears to be not yet valid."
NOT_YET_VALID_CA = ("The certificate used to sign the message was issued by a certification authority whose "
                    "certificate is not yet valid.")
REVOKED = ("The certificate used to sign the message has been revoked. Do not trust the message until you have "
           "checked its contents with the sender.")
UNKNOWN_CA = "The certificate used to sign the message was issued by an unknown certification authority."
UNTRUSTED_CA = ("The certificate used to sign the message was issued by a certification authority that is not "
                "trusted for issuing this kind of certificate.")
ADDRESS_MISMATCH = ("The e-mail address listed in the signer's certificate is different from the address that was "
                    "used to send this message. Look at the signer's certificate to learn who signed the message.")
UNKNOWN_SIGNER = "The certificate used to sign the message is missing or cannot be read."
UNSUPPORTED = ("The message was signed with an algorithm this system cannot check, so the signature is neither "
               "confirmed nor shown to be broken.")
USAGE_NOT_ALLOWED = "The certificate used to sign the message may not be used to sign e-mail."
REVOCATION_UNKNOWN = "Whether the certificate used to sign the message has been revoked could not be established."
WEAK = "The message was signed with an algorithm or key that is no longer considered safe."
REVOCATION_SOFT = "The signature is valid, but whether the signer's certificate has been revoked is unknown."

REVOCATION_STATES: dict[str, State] = {
    "good": State(GOOD, "check", "Not revoked"),
    "revoked": State(BAD, "cross", "Revoked"),
    "unknown": State(WARN, "question", "Revocation unknown"),
    "not-checked": State(NEUTRAL, "info", "Not checked"),
}

VALIDITY_STATES: dict[str, State] = {
    "valid": State(GOOD, "check", "Within validity"),
    "expired": State(BAD, "cross", "Expired"),
    "not-yet-valid": State(BAD, "cross", "Not yet valid"),
}


def sentence(status: SignerStatus, reasons: tuple[str, ...], leaf_validity: str) -> str:
    """The dialog sentence for one signer. ``leaf_validity`` (the signer certificate's own dates at the time of
    checking) tells an expired signer certificate from an expired issuer, as Thunderbird's dialog does."""
    text = " ".join(reasons).lower()
    if status == SignerStatus.VALID:
        return VALID_SENTENCE
    if status == SignerStatus.INVALID_SIGNATURE:
        return CONTENT_ALTERED
    if status == SignerStatus.EXPIRED:
        return EXPIRED if leaf_validity == "expired" else EXPIRED_CA
    if status == SignerStatus.NOT_YET_VALID:
        return NOT_YET_VALID if leaf_validity == "not-yet-valid" else NOT_YET_VALID_CA
    if status == SignerStatus.UNTRUSTED:
        return UNKNOWN_CA if ("no chain leads" in text or "no trust anchors" in text) else UNTRUSTED_CA
    return {
        SignerStatus.REVOKED: REVOKED,
        SignerStatus.ADDRESS_MISMATCH: ADDRESS_MISMATCH,
        SignerStatus.UNKNOWN_SIGNER: UNKNOWN_SIGNER,
        SignerStatus.UNSUPPORTED_ALGORITHM: UNSUPPORTED,
        SignerStatus.USAGE_NOT_ALLOWED: USAGE_NOT_ALLOWED,
        SignerStatus.REVOCATION_UNKNOWN: REVOCATION_UNKNOWN,
        SignerStatus.WEAK_ALGORITHM: WEAK,
    }.get(status, NOT_SIGNED_SENTENCE)


__all__ = ["BAD", "GOOD", "NEUTRAL", "REVOCATION_STATES", "STATUS_STATES", "VALIDITY_STATES", "WARN", "State",
           "sentence"]
